"""The seed workflow's own Python, as written (kafka-python), against the cluster under test.

Steps 3 and 4 of the seed are kafka-python code; they run here unchanged except for the
bootstrap server and topic, which are the seed's own (``localhost:9092``, ``user-events``)
on the default stack. They write to ``user-events`` and commit to ``analytics-group``, so
they run only on kafkarig's own stack. Small wrappers around the unchanged snippets report
where the producer's record landed and which records the loop got, so the check proves the
loop printed *this* record, not an older identical one.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time

import pytest

SEED_PRODUCER = """
from kafka import KafkaProducer
import json

producer = KafkaProducer(
    bootstrap_servers=['localhost:9092'],
    value_serializer=lambda x: json.dumps(x).encode('utf-8')
)

producer.send('user-events', value={'user_id': 1, 'action': 'login'})
producer.flush()
"""

SEED_CONSUMER = """
from kafka import KafkaConsumer
import json

consumer = KafkaConsumer(
    'user-events',
    bootstrap_servers=['localhost:9092'],
    auto_offset_reset='earliest',
    enable_auto_commit=True,
    group_id='analytics-group',
    value_deserializer=lambda x: json.loads(x.decode('utf-8'))
)

for message in consumer:
    print(f"Processing: {message.value}")
    # Process event logic here
"""


# Runs the producer snippet unchanged and then prints where each record it sent landed
# ("sent <partition> <offset>"), so that the check can look for exactly that record.
REPORTING_PRODUCER = """
import kafka
_send = kafka.KafkaProducer.send
_futures = []
def _recording_send(self, *args, **kwargs):
    future = _send(self, *args, **kwargs)
    _futures.append(future)
    return future
kafka.KafkaProducer.send = _recording_send
exec(compile(SNIPPET, "seed-producer", "exec"))
for future in _futures:
    metadata = future.get(timeout=30)
    print(f"sent {metadata.partition} {metadata.offset}")
"""

# Runs the consumer snippet unchanged, printing "seen <partition> <offset>" just before the
# snippet's own line for each record; on SIGTERM it closes its consumer so that it leaves
# the group: a killed member would hold analytics-group's partitions until its session
# expires, and stall the next run of this test.
REPORTING_CONSUMER = """
import signal, sys
import kafka
_next = kafka.KafkaConsumer.__next__
def _reporting_next(self):
    message = _next(self)
    print(f"seen {message.partition} {message.offset}", flush=True)
    return message
kafka.KafkaConsumer.__next__ = _reporting_next
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
try:
    exec(compile(SNIPPET, "seed-consumer", "exec"))
finally:
    consumer.close()
"""


def _for_cluster(snippet: str, bootstrap_servers: str, topic: str) -> str:
    first = bootstrap_servers.split(",")[0]
    return snippet.replace("'localhost:9092'", repr(first)).replace("'user-events'", repr(topic))


def _run_seed_producer(bootstrap_servers: str, topic: str) -> tuple[int, int]:
    """Run the seed's producer snippet once; the partition and offset of its record."""
    snippet = _for_cluster(SEED_PRODUCER, bootstrap_servers, topic)
    sent = subprocess.run(
        [sys.executable, "-c", f"SNIPPET = {snippet!r}\n{REPORTING_PRODUCER}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, f"the seed's producer failed:\n{sent.stderr}"
    (line,) = [line for line in sent.stdout.splitlines() if line.startswith("sent ")]
    _, partition, offset = line.split()
    return int(partition), int(offset)


@pytest.mark.seed_verbatim
@pytest.mark.writes
def test_the_seed_producer_and_consumer_loop_work_as_written(
    bootstrap_servers: str, seed_topic: str
) -> None:
    snippet = _for_cluster(SEED_CONSUMER, bootstrap_servers, seed_topic)
    lines: queue.Queue[str] = queue.Queue()
    consumer = subprocess.Popen(
        [sys.executable, "-u", "-c", f"SNIPPET = {snippet!r}\n{REPORTING_CONSUMER}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert consumer.stdout is not None
    stdout = consumer.stdout

    def read_lines() -> None:
        for line in stdout:
            lines.put(line.strip())

    threading.Thread(target=read_lines, daemon=True).start()
    expected = "Processing: {'user_id': 1, 'action': 'login'}"
    partition, offset = _run_seed_producer(bootstrap_servers, seed_topic)
    marker = f"seen {partition} {offset}"
    printed: list[str] = []
    try:
        # The loop starts at analytics-group's committed offset, before the new record:
        # it prints older records first, then this one.
        deadline = time.monotonic() + 40
        while marker not in printed[-2:-1] and time.monotonic() < deadline:
            try:
                printed.append(lines.get(timeout=1.0))
            except queue.Empty:
                if consumer.poll() is not None:
                    errors = consumer.stderr.read() if consumer.stderr else ""
                    raise AssertionError(f"the seed's consumer loop exited:\n{errors}") from None
    finally:
        consumer.terminate()
        try:
            consumer.wait(timeout=15)
        except subprocess.TimeoutExpired:
            consumer.kill()
            consumer.wait()
    assert marker in printed, (
        f"the seed's consumer loop did not get the record the seed's producer sent "
        f"({seed_topic}[{partition}]@{offset}); last lines: {printed[-6:]}"
    )
    assert printed[printed.index(marker) + 1] == expected
