"""The seed workflow's own Python, as written (kafka-python), against the cluster under test.

Steps 3 and 4 of the seed are kafka-python code; they run here unchanged except for the
bootstrap server and topic, which are the seed's own (``localhost:9092``, ``user-events``)
on the default stack.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time

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


# Runs the consumer snippet unchanged, and on SIGTERM closes its consumer so that it leaves
# the group: a killed member would hold analytics-group's partitions until its session
# expires, and stall the next run of this test.
GRACEFUL_STOP = """
import signal, sys
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
try:
    exec(compile(SNIPPET, "seed-consumer", "exec"))
finally:
    consumer.close()
"""


def _for_cluster(snippet: str, bootstrap_servers: str, topic: str) -> str:
    first = bootstrap_servers.split(",")[0]
    return snippet.replace("'localhost:9092'", repr(first)).replace("'user-events'", repr(topic))


def test_the_seed_producer_and_consumer_loop_work_as_written(
    bootstrap_servers: str, seed_topic: str
) -> None:
    producer = _for_cluster(SEED_PRODUCER, bootstrap_servers, seed_topic)
    snippet = _for_cluster(SEED_CONSUMER, bootstrap_servers, seed_topic)
    consumer_code = f"SNIPPET = {snippet!r}\n{GRACEFUL_STOP}"
    lines: queue.Queue[str] = queue.Queue()
    consumer = subprocess.Popen(
        [sys.executable, "-u", "-c", consumer_code],
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
    seen = False
    try:
        deadline = time.monotonic() + 40
        while not seen and time.monotonic() < deadline:
            # The consumer loop never ends; produce with the seed's producer until it prints.
            sent = subprocess.run(
                [sys.executable, "-c", producer], capture_output=True, text=True, timeout=30
            )
            assert sent.returncode == 0, f"the seed's producer failed:\n{sent.stderr}"
            try:
                while not seen:
                    seen = lines.get(timeout=2.0) == expected
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
    assert seen, f"the seed's consumer loop did not print {expected!r}"
