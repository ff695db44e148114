"""The error hierarchy of the messaging harness.

Every error the harness raises on purpose is a :class:`HarnessError`: a message that says
what failed (expected vs actual where that applies) and an optional hint, rendered as
``"message\\nHint: hint"``. The harness never imports ``infra``, so this hierarchy stands on
its own.

Two classes are meant to be raised by *handlers* rather than by the harness:
:class:`RetryableError` (a transient failure, retry with backoff) and
:class:`NonRetryableError` (send the record to the dead-letter queue at once).
"""

from __future__ import annotations

from collections.abc import Sequence


class HarnessError(Exception):
    """Root of every error the harness raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        """The message with its hint, as a user should read it."""
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class ConfigurationError(HarnessError, ValueError):
    """A harness object was configured with values it cannot work with."""


class SerializationError(HarnessError, TypeError):
    """A value could not be encoded as JSON for producing."""


class DeliveryError(HarnessError):
    """The broker did not acknowledge one or more produced records.

    ``topic``, ``key`` and ``error`` describe the first failure; ``failures`` lists all of
    them as ``(topic, key, error text)``. ``error`` is the broker's (or librdkafka's)
    ``KafkaError`` text, e.g. ``"Broker: Message size too large"``. ``topic`` is ``None``
    when no single record is to blame (e.g. records still queued when a flush timed out).
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        key: bytes | None = None,
        error: str = "",
        failures: Sequence[tuple[str, bytes | None, str]] = (),
        hint: str | None = None,
    ) -> None:
        self.topic = topic
        self.key = key
        self.error = error
        self.failures = list(failures)
        super().__init__(message, hint=hint)


class KcatNotFoundError(HarnessError):
    """No ``kcat`` (or ``kafkacat``) executable on PATH."""


class KcatError(HarnessError):
    """kcat ran but failed: carries the command, its exit code and the tail of its stderr.

    ``exit_code`` is ``None`` when kcat was killed because it ran past its timeout.
    """

    def __init__(
        self,
        what: str,
        command: Sequence[str],
        exit_code: int | None,
        stderr: str = "",
        *,
        hint: str | None = None,
        tail_lines: int = 20,
    ) -> None:
        self.command = list(command)
        self.exit_code = exit_code
        self.stderr = stderr
        tail = "\n".join(stderr.strip().splitlines()[-tail_lines:])
        self.stderr_tail = tail
        code = "killed (timeout)" if exit_code is None else str(exit_code)
        message = f"{what}\n  command: {' '.join(self.command)}\n  exit code: {code}"
        if tail:
            message += "\n  stderr (last lines):\n" + "\n".join(
                f"    {line}" for line in tail.splitlines()
            )
        super().__init__(message, hint=hint)


class KcatTimeoutError(KcatError):
    """kcat did not finish within its timeout and was killed."""


class RetryableError(HarnessError):
    """Raised by a handler for a transient failure: retry with backoff, then DLQ."""


class NonRetryableError(HarnessError):
    """Raised by a handler (or the harness) for a failure no retry can fix: DLQ at once."""


class DecodeError(NonRetryableError):
    """A record's value is not UTF-8 JSON (or is absent); it goes to the DLQ at once."""


class DlqHeaderError(HarnessError):
    """A record's headers are not a complete, well-formed set of ``dlq.*`` headers."""


class DlqWriteError(HarnessError):
    """Writing a record to the dead-letter queue failed more often than allowed.

    The record's offset was not stored or committed: it is redelivered after a restart.
    """


class ConsumerError(HarnessError):
    """The consumer hit a fatal client error and cannot continue."""


class DeliveryAccountingError(HarnessError, AssertionError):
    """Delivery accounting failed: acknowledged records were lost, or double-booked.

    Also an ``AssertionError`` so pytest reports it as a failed check, not a crash.
    """
