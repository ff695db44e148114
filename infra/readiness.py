"""Readiness as small wait objects: a timeout, a poll interval, and a message that says what
was expected, what was seen last, and a hint (as testcontainers does)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from infra.errors import StackError

T = TypeVar("T")
# librdkafka logs every refused connection while a broker starts; that is expected here.
QUIET_LOGGER = logging.getLogger("kafkarig.readiness.librdkafka")


@dataclass
class WaitFor(Generic[T]):
    """Poll ``probe`` until it returns a value ``accept`` likes, or time out.

    ``probe`` may raise; the last error or value is reported in the timeout message.
    """

    expected: str
    probe: Callable[[], T]
    accept: Callable[[T], bool]
    timeout_s: float = 60.0
    poll_interval_s: float = 0.5
    hint: str | None = None
    on_wait: Callable[[float, str], None] | None = None

    def wait(self) -> T:
        """Block until ready; return the accepted value or raise :class:`StackError`."""
        started = time.monotonic()
        seen = "nothing yet"
        last_report = started
        while True:
            try:
                value = self.probe()
                if self.accept(value):
                    return value
                seen = repr(value)
            except Exception as error:
                seen = f"{type(error).__name__}: {error}"
            elapsed = time.monotonic() - started
            if elapsed >= self.timeout_s:
                raise StackError(
                    f"timed out after {self.timeout_s:.0f}s waiting for {self.expected}; "
                    f"last seen: {seen}",
                    hint=self.hint,
                )
            if self.on_wait is not None and time.monotonic() - last_report >= 5:
                self.on_wait(elapsed, seen)
                last_report = time.monotonic()
            time.sleep(self.poll_interval_s)


def describe_broker_ids(bootstrap_servers: str, request_timeout_s: float = 3.0) -> list[int]:
    """The node ids of the brokers the cluster reports, via AdminClient ``describe_cluster``."""
    admin = AdminClient(
        {"bootstrap.servers": bootstrap_servers, "socket.connection.setup.timeout.ms": 3000},
        logger=QUIET_LOGGER,
    )
    try:
        cluster = admin.describe_cluster(request_timeout=request_timeout_s).result(
            timeout=request_timeout_s + 1
        )
    except KafkaException as error:
        raise StackError(f"describe_cluster on {bootstrap_servers} failed: {error}") from error
    return sorted(node.id for node in cluster.nodes)


def wait_for_brokers(
    bootstrap_servers: str,
    expected_brokers: int,
    *,
    timeout_s: float = 60.0,
    on_wait: Callable[[float, str], None] | None = None,
) -> list[int]:
    """Wait until ``describe_cluster`` reports ``expected_brokers`` brokers; return their ids."""
    return WaitFor(
        expected=f"{expected_brokers} broker(s) answering describe_cluster on {bootstrap_servers}",
        probe=lambda: describe_broker_ids(bootstrap_servers),
        accept=lambda ids: len(ids) >= expected_brokers,
        timeout_s=timeout_s,
        hint="look at the broker logs (`docker logs <container>`); a broker that exits at "
        "once usually has a bad setting.",
        on_wait=on_wait,
    ).wait()
