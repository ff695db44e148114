"""The stop request shared by both consumer loops: reason, signals, handlers put back."""

from __future__ import annotations

import os
import signal

import pytest

from harness.stop_signal import StopSignal


def test_the_first_reason_is_kept() -> None:
    stop = StopSignal()
    assert not stop.is_set()
    stop.request("first")
    stop.request("second")
    assert stop.is_set() and stop.reason == "first"


def test_a_signal_requests_a_stop_a_second_sigint_interrupts_and_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGINT)
    stop = StopSignal()
    stop.install_handlers(stop.request, (signal.SIGINT,))
    try:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.reason == "signal SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        stop.restore_handlers()
    assert signal.getsignal(signal.SIGINT) is before
