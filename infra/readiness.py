"""Readiness as small wait objects: a timeout, a poll interval, and a message that says what
was expected, what was seen last, and a hint (as testcontainers does).

Only the errors that mean "not ready yet" are retried (a broker still starting, a request
that timed out, metadata not there yet); any other error, a programming error above all,
fails the wait at once. A wait on the cluster uses one AdminClient for all its probes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import tenacity
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from infra.errors import StackError

T = TypeVar("T")
# librdkafka logs every refused connection while a broker starts; that is expected here.
QUIET_LOGGER = logging.getLogger("kafkarig.readiness.librdkafka")
QUIET_LOGGER.addHandler(logging.NullHandler())  # no "last resort" printing of its errors

# Kafka error codes that mean "the cluster is not there yet", whatever librdkafka's
# retriable() flag says about them.
_NOT_READY_CODES = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError._WAIT_COORD,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_CONTROLLER,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.UNKNOWN_TOPIC_OR_PART,  # a topic just created, not yet in the metadata
    }
)


# A refused login or TLS handshake: the answer is no, not "not yet".
_REFUSED_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL})


def is_not_ready(error: BaseException) -> bool:
    """Whether an error from a probe means "not ready yet" (retry) rather than "wrong" (fail)."""
    if isinstance(error, TimeoutError | FutureTimeoutError | ConnectionError | NotReadyError):
        return True
    if isinstance(error, KafkaException) and error.args:
        kafka_error = error.args[0]
        if isinstance(kafka_error, KafkaError):
            return kafka_error.code() in _NOT_READY_CODES or bool(kafka_error.retriable())
    return False


class NotReadyError(Exception):
    """Raised by a probe to say "not yet" in its own words."""


class _NotYet(Exception):
    """A probe's answer that the wait does not accept yet."""


@dataclass
class WaitFor(Generic[T]):
    """Poll ``probe`` until it returns a value ``accept`` likes, or time out.

    ``probe`` may raise an error that ``not_ready`` recognises (default :func:`is_not_ready`):
    it is retried, and the last one is reported in the timeout message. Any other error ends
    the wait at once. ``on_wait(elapsed_s, seen)`` is called after every attempt that failed.
    """

    expected: str
    probe: Callable[[], T]
    accept: Callable[[T], bool]
    timeout_s: float = 60.0
    poll_interval_s: float = 0.5
    hint: str | None = None
    on_wait: Callable[[float, str], None] | None = None
    not_ready: Callable[[BaseException], bool] = field(default=is_not_ready)

    def wait(self) -> T:
        """Block until ready; return the accepted value or raise :class:`StackError`."""
        started = time.monotonic()
        seen = ["nothing yet"]

        def attempt() -> T:
            try:
                value = self.probe()
            except Exception as error:
                if not self.not_ready(error):
                    raise
                seen[0] = f"{type(error).__name__}: {error}"
                raise _NotYet from error
            if not self.accept(value):
                seen[0] = repr(value)
                raise _NotYet
            return value

        def report(state: tenacity.RetryCallState) -> None:
            if self.on_wait is not None:
                self.on_wait(time.monotonic() - started, seen[0])

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_NotYet),
            stop=tenacity.stop_after_delay(self.timeout_s),
            wait=tenacity.wait_fixed(self.poll_interval_s),
            before_sleep=report,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _NotYet:
            raise StackError(
                f"timed out after {self.timeout_s:.0f}s waiting for {self.expected}; "
                f"last seen: {seen[0]}",
                hint=self.hint,
            ) from None


class ClientErrors:
    """The errors librdkafka reports through ``error_cb`` (a refused login, a failed TLS
    handshake), newest last; the callback runs inside the client's ``poll()``."""

    def __init__(self, keep: int = 20) -> None:
        self.keep = keep
        self.seen: list[KafkaError] = []
        self._lock = threading.Lock()

    def __call__(self, error: KafkaError) -> None:
        with self._lock:
            self.seen.append(error)
            del self.seen[: -self.keep]

    def last(self) -> str | None:
        """The newest error as text, None when there was none."""
        with self._lock:
            return self.seen[-1].str() if self.seen else None


def admin_for_waiting(
    bootstrap_servers: str,
    config: Mapping[str, str] | None = None,
    *,
    errors: ClientErrors | None = None,
) -> AdminClient:
    """An AdminClient for probing a cluster that may not answer yet (quiet, quick to
    connect), with the client ``config`` (TLS, SASL) of a secure stack."""
    settings: dict[str, Any] = {
        **(config or {}),
        "bootstrap.servers": bootstrap_servers,
        "socket.connection.setup.timeout.ms": 3000,
    }
    if errors is not None:
        settings["error_cb"] = errors
    return AdminClient(settings, logger=QUIET_LOGGER)


def login_errors(
    bootstrap_servers: str, config: Mapping[str, str], timeout_s: float = 5.0
) -> list[KafkaError]:
    """The client errors of one ``describe_cluster`` with ``config``: empty when the cluster
    answered (the login, if any, was accepted). Returns at the first refused login or
    handshake instead of waiting for the request to time out."""
    errors = ClientErrors()
    admin = admin_for_waiting(bootstrap_servers, config, errors=errors)
    future = admin.describe_cluster(request_timeout=timeout_s)
    deadline = time.monotonic() + timeout_s + 1
    while not future.done() and time.monotonic() < deadline:
        admin.poll(0.1)  # error_cb runs inside poll()
        if any(error.code() in _REFUSED_CODES for error in errors.seen):
            return list(errors.seen)
    try:
        future.result(timeout=0.1)
    except (KafkaException, TimeoutError, FutureTimeoutError) as error:
        return list(errors.seen) or [_kafka_error(error)]
    return []


def _kafka_error(error: Exception) -> KafkaError:
    found = error.args[0] if isinstance(error, KafkaException) and error.args else None
    return found if isinstance(found, KafkaError) else KafkaError(KafkaError._TIMED_OUT)


def describe_broker_ids(
    bootstrap_servers: str, request_timeout_s: float = 3.0, *, admin: AdminClient | None = None
) -> list[int]:
    """The node ids of the brokers the cluster reports, via AdminClient ``describe_cluster``.

    Raises the AdminClient's own error (a ``KafkaException``, or a timeout) when the cluster
    does not answer; :func:`is_not_ready` tells which of those mean "not yet".
    """
    client = admin if admin is not None else admin_for_waiting(bootstrap_servers)
    cluster = client.describe_cluster(request_timeout=request_timeout_s).result(
        timeout=request_timeout_s + 1
    )
    return sorted(node.id for node in cluster.nodes)


def wait_for_brokers(
    bootstrap_servers: str,
    expected_brokers: int,
    *,
    timeout_s: float = 60.0,
    on_wait: Callable[[float, str], None] | None = None,
    config: Mapping[str, str] | None = None,
) -> list[int]:
    """Wait until ``describe_cluster`` reports ``expected_brokers`` brokers; return their ids.

    ``config`` is the client config of a secure stack; a login or handshake the brokers
    refuse is told in the timeout message (librdkafka reports it apart from the request).
    """
    errors = ClientErrors()
    admin = admin_for_waiting(bootstrap_servers, config, errors=errors)

    def probe() -> list[int]:
        try:
            return describe_broker_ids(bootstrap_servers, admin=admin)
        except Exception as error:
            admin.poll(0)  # error_cb runs inside poll()
            refused = errors.last()
            if refused is not None and is_not_ready(error):
                raise NotReadyError(f"{error}; the client reports: {refused}") from error
            raise

    return WaitFor(
        expected=f"{expected_brokers} broker(s) answering describe_cluster on {bootstrap_servers}",
        probe=probe,
        accept=lambda ids: len(ids) >= expected_brokers,
        timeout_s=timeout_s,
        hint="look at the broker logs (`docker logs <container>`); a broker that exits at "
        "once usually has a bad setting.",
        on_wait=on_wait,
    ).wait()
