"""How a consumer loop is asked to stop: by a call, or by SIGTERM / SIGINT.

Shared by :class:`harness.consumer.RetryingConsumer` and
:class:`harness.share_consumer.ShareGroupConsumer`: the first reason given is kept, and the
signal handlers installed are put back by :meth:`StopSignal.restore_handlers`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from harness.errors import ConfigurationError

DEFAULT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignal:
    """A stop request with its reason; thread- and signal-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self._previous_handlers: dict[int, Any] = {}

    def request(self, reason: str) -> None:
        """Ask to stop; the first reason is the one kept."""
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    def is_set(self) -> bool:
        """Whether a stop was requested."""
        return self._event.is_set()

    def install_handlers(
        self,
        on_stop: Callable[[str], None],
        signals: Sequence[signal.Signals] = DEFAULT_SIGNALS,
    ) -> None:
        """Make each signal call ``on_stop("signal NAME")``.

        A second SIGINT while already stopping raises ``KeyboardInterrupt``, so a handler that
        hangs can still be interrupted. Only the main thread may install signal handlers.
        """

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if signum == signal.SIGINT and self.is_set():
                raise KeyboardInterrupt
            on_stop(f"signal {signal.Signals(signum).name}")

        try:
            for sig in signals:
                previous = signal.signal(sig, on_signal)
                self._previous_handlers.setdefault(int(sig), previous)
        except ValueError as exc:
            raise ConfigurationError(
                f"cannot install signal handlers: {exc}",
                hint="call install_signal_handlers() from the main thread, or call stop()",
            ) from exc

    def restore_handlers(self) -> None:
        """Put back the handlers that :meth:`install_handlers` replaced."""
        for signum, previous in self._previous_handlers.items():
            signal.signal(signum, previous)
        self._previous_handlers.clear()
