"""Faults on the brokers of a kafkarig stack, through python-on-whales, always undone.

:class:`FaultInjector` acts only on the containers :func:`~infra.cluster.stack_containers`
finds by label. Each fault returns a :class:`Fault` that knows how to undo itself; the
injector keeps every fault not undone yet and undoes them (newest first) when its ``with``
block ends, however it ends: a failed check, an exception, Ctrl-C, or SIGTERM/SIGHUP (turned
into :class:`FaultsInterrupted` while the block runs, so the cleanup runs). Then
:meth:`FaultInjector.heal` puts every broker container back as Docker shows it: unpaused,
started, on the stack's network, whatever the log of faults says.

Faults: ``kill`` (SIGKILL; undone by starting it), ``pause`` (SIGSTOP of every process: a
hung "zombie" broker; undone by unpausing), ``isolate`` (disconnected from the stack's
network, which also removes its host ports; undone by reconnecting), and the operations
``restart`` (clean: SIGTERM then start), ``rolling_restart`` and ``restart_cluster`` (every
broker stopped, then started again; data is kept in the volumes).

>>> with FaultInjector(cluster) as faults:                          # doctest: +SKIP
...     with faults.killed(cluster.leader_of("user-events", 0)):
...         time.sleep(5)
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Literal, Self

from python_on_whales.exceptions import DockerException

from infra.cluster import SERVICE_LABEL, BrokerContainer, StackCluster, stack_containers
from infra.console import step
from infra.docker import docker_failure
from infra.errors import KafkarigError, StackError

FaultKind = Literal["kill", "pause", "isolate", "restart", "rolling-restart", "cluster-restart"]
#: Signals that end a run politely; while faults are active they raise FaultsInterrupted.
INTERRUPT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
STOP_TIMEOUT_S = 30


class FaultsInterrupted(KafkarigError, KeyboardInterrupt):
    """A signal arrived while faults were active; they are undone before the run ends.

    Also a ``KeyboardInterrupt``, so that a test runner stops the whole run (as for Ctrl-C)
    instead of going on with the next test."""


@dataclass
class Fault:
    """One fault injected on ``target`` at ``started_at`` (``time.monotonic()``)."""

    kind: FaultKind
    target: str
    started_at: float
    undo_action: Callable[[], None] | None = None
    in_effect_at: float | None = None
    """When the Docker action returned (the broker is dead, frozen, cut off); ``None``
    until then."""
    ended_at: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Injected and not undone yet."""
        return self.ended_at is None

    def undo(self) -> None:
        """Undo the fault (once; a second call does nothing)."""
        if not self.active:
            return
        if self.undo_action is not None:
            self.undo_action()
        self.ended_at = time.monotonic()


class FaultInjector:
    """Injects faults into the brokers of ``cluster`` and undoes every one of them.

    ``on_fault`` is called with each :class:`Fault` when it is injected (to mark it in a
    report). ``wait_timeout_s`` bounds each wait for a broker to be healthy again.
    """

    def __init__(
        self,
        cluster: StackCluster,
        *,
        on_fault: Callable[[Fault], None] | None = None,
        wait_timeout_s: float = 180.0,
    ) -> None:
        self.cluster = cluster
        self.client = cluster.client
        self.on_fault = on_fault
        self.wait_timeout_s = wait_timeout_s
        self.history: list[Fault] = []
        self._previous_handlers: dict[int, object] = {}

    # -- lifetime --------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            for signum in INTERRUPT_SIGNALS:
                self._previous_handlers[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.undo_all()
        finally:
            for signum, handler in self._previous_handlers.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]
            self._previous_handlers.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        raise FaultsInterrupted(
            f"interrupted by {signal.Signals(signum).name} while faults were active; "
            "every fault is being undone"
        )

    def active(self) -> list[Fault]:
        """Faults injected and not undone yet, oldest first."""
        return [fault for fault in self.history if fault.active]

    def undo_all(self) -> None:
        """Undo every active fault (newest first), then :meth:`heal`; raise the first error
        only after trying all of them."""
        errors: list[BaseException] = []
        for fault in reversed(self.active()):
            try:
                step(f"undoing {fault.kind} of {fault.target}")
                fault.undo()
            except Exception as error:
                errors.append(error)
        try:
            self.heal()
        except Exception as error:
            errors.append(error)
        if errors:
            raise errors[0]

    def heal(self) -> list[str]:
        """Put every broker container of the stack back: unpause, start, reconnect to the
        stack's network. Returns what it repaired (empty when nothing needed it)."""
        repaired = []
        network = self.cluster.network()
        for container in stack_containers(self.client, self.cluster.project):
            state = container.state
            if state.paused:
                self.client.container.unpause(container.name)
                repaired.append(f"unpaused {container.name}")
            elif not state.running:
                self.client.container.start(container.name)
                repaired.append(f"started {container.name}")
            if network not in (container.network_settings.networks or {}):
                service = (container.config.labels or {}).get(SERVICE_LABEL, container.name)
                self._connect(container.name, network, alias=service)
                repaired.append(f"reconnected {container.name} to {network}")
        for line in repaired:
            step(f"healed: {line}")
        return repaired

    # -- faults ----------------------------------------------------------------------------

    def _begin(self, kind: FaultKind, target: str, undo: Callable[[], None] | None) -> Fault:
        fault = Fault(kind, target, time.monotonic(), undo)
        self.history.append(fault)
        if self.on_fault is not None:
            self.on_fault(fault)
        return fault

    def _docker(self, what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except DockerException as error:
            raise StackError(f"could not {what}.\n{docker_failure(error)}") from error

    def _inject(self, fault: Fault, what: str, action: Callable[[], object]) -> Fault:
        """Run the Docker action of ``fault`` (registered first, so it is undone even when
        the action fails half-way); it is in effect when the action returned."""
        self._docker(what, action)
        fault.in_effect_at = time.monotonic()
        return fault

    def kill(self, broker: BrokerContainer) -> Fault:
        """SIGKILL the broker; undone by starting it (:meth:`StackCluster.wait_whole` then
        waits until it is back in sync)."""
        step(f"fault: SIGKILL {broker}")
        fault = self._begin("kill", broker.container, lambda: self._start(broker))
        return self._inject(
            fault, f"kill {broker}", lambda: self.client.container.kill(broker.container, "SIGKILL")
        )

    def pause(self, broker: BrokerContainer) -> Fault:
        """Freeze every process of the broker (SIGSTOP via the freezer); undone by unpausing."""
        step(f"fault: pause {broker}")
        fault = self._begin("pause", broker.container, lambda: self._unpause(broker))
        return self._inject(
            fault, f"pause {broker}", lambda: self.client.container.pause(broker.container)
        )

    def isolate(self, broker: BrokerContainer) -> Fault:
        """Disconnect the broker from the stack's network (its host ports go too); undone by
        reconnecting it under its service name."""
        network = self.cluster.network()
        step(f"fault: disconnect {broker} from {network}")
        fault = self._begin("isolate", broker.container, lambda: self._reconnect(broker, network))
        return self._inject(
            fault,
            f"disconnect {broker} from {network}",
            lambda: self.client.network.disconnect(network, broker.container),
        )

    def restart(self, broker: BrokerContainer) -> Fault:
        """A clean restart: SIGTERM (controlled shutdown), then start."""
        step(f"fault: clean restart of {broker}")
        fault = self._begin("restart", broker.container, lambda: self._start(broker))
        self._docker(
            f"stop {broker}",
            lambda: self.client.container.stop(broker.container, time=STOP_TIMEOUT_S),
        )
        fault.undo()
        return fault

    def rolling_restart(self, *, topics: list[str] | None = None) -> Fault:
        """Restart every broker cleanly, one at a time, each back in sync before the next."""
        step(f"fault: rolling restart of {len(self.cluster.brokers)} brokers")
        fault = self._begin("rolling-restart", "all brokers", None)
        for broker in self.cluster.brokers:
            self._docker(
                f"stop {broker}",
                lambda broker=broker: self.client.container.stop(  # type: ignore[misc]
                    broker.container, time=STOP_TIMEOUT_S
                ),
            )
            self._start(broker)
            self.cluster.wait_whole(topics=topics, timeout_s=self.wait_timeout_s)
        fault.undo()
        return fault

    def restart_cluster(self) -> Fault:
        """Stop every broker (cleanly, at once), then start them all: data is kept."""
        names = [b.container for b in self.cluster.brokers]
        step(f"fault: whole-cluster restart of {', '.join(names)}")
        # It starts with the stop (the brokers hand over and refuse records during their
        # controlled shutdown) and is in effect once every broker is down.
        fault = self._begin("cluster-restart", "all brokers", lambda: self._start_all())
        return self._inject(
            fault,
            f"stop {', '.join(names)}",
            lambda: self.client.container.stop(names, time=STOP_TIMEOUT_S),
        )

    @contextlib.contextmanager
    def injected(self, fault: Fault) -> Iterator[Fault]:
        """Undo ``fault`` when the block ends (the injector undoes it anyway at its end)."""
        try:
            yield fault
        finally:
            fault.undo()

    def killed(self, broker: BrokerContainer) -> contextlib.AbstractContextManager[Fault]:
        """``with faults.killed(broker):`` the broker is dead inside the block."""
        return self.injected(self.kill(broker))

    def paused(self, broker: BrokerContainer) -> contextlib.AbstractContextManager[Fault]:
        """``with faults.paused(broker):`` the broker is frozen inside the block."""
        return self.injected(self.pause(broker))

    def isolated(self, broker: BrokerContainer) -> contextlib.AbstractContextManager[Fault]:
        """``with faults.isolated(broker):`` the broker is off the network inside the block."""
        return self.injected(self.isolate(broker))

    # -- undoing ---------------------------------------------------------------------------

    def _start(self, broker: BrokerContainer) -> None:
        if not self.cluster.container(broker).state.running:
            step(f"starting {broker}")
            self._docker(f"start {broker}", lambda: self.client.container.start(broker.container))

    def _start_all(self) -> None:
        names = [b.container for b in self.cluster.brokers]
        step(f"starting {', '.join(names)}")
        self._docker(f"start {', '.join(names)}", lambda: self.client.container.start(names))

    def _unpause(self, broker: BrokerContainer) -> None:
        if self.cluster.container(broker).state.paused:
            step(f"unpausing {broker}")
            self._docker(
                f"unpause {broker}", lambda: self.client.container.unpause(broker.container)
            )

    def _reconnect(self, broker: BrokerContainer, network: str) -> None:
        networks = self.cluster.container(broker).network_settings.networks or {}
        if network not in networks:
            step(f"reconnecting {broker} to {network}")
            self._connect(broker.container, network, alias=broker.service)

    def _connect(self, container: str, network: str, alias: str | None = None) -> None:
        self._docker(
            f"connect {container} to {network}",
            lambda: self.client.network.connect(network, container, alias=alias or container),
        )
