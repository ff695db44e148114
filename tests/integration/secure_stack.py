"""A secure kafkarig stack for the integration tests: a stack file of ``examples/`` copied
into a fresh folder (so its ``.kafkarig/`` lands there), brought up with ``lifecycle.up``,
taken down after, with the client configs its users need."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException

from harness import admin as admin_ops
from harness.admin import ClientErrors
from infra import lifecycle
from infra.client_config import librdkafka_properties
from infra.config import Stack, load_stack
from infra.credentials import client_settings

#: What a refused client sees: a closed connection, a failed login, a failed handshake.
REFUSED: Final = frozenset(
    {KafkaError._ALL_BROKERS_DOWN, KafkaError._AUTHENTICATION, KafkaError._SSL}
)
EXAMPLES: Final = Path(__file__).resolve().parents[2] / "examples"
SEED_TOPIC: Final = "user-events"


@dataclass(frozen=True)
class SecureStack:
    """The running stack, where it keeps its files, and client configs of its users."""

    stack: Stack
    root: Path
    up: lifecycle.UpReport

    @property
    def bootstrap(self) -> str:
        """The host listener."""
        return self.stack.bootstrap_servers

    @property
    def file(self) -> Path:
        """The stack file (a copy of the example)."""
        assert self.stack.source_file is not None
        return self.stack.source_file

    def config(self, user: str, **changes: Any) -> dict[str, str]:
        """librdkafka properties of ``user`` as kafkarig makes them (without the bootstrap
        servers), with ``changes`` (``sasl_password="..."``: dots written as '_')."""
        properties = librdkafka_properties(client_settings(self.stack, user, self.root))
        properties.pop("bootstrap.servers")
        properties.update({key.replace("_", "."): value for key, value in changes.items()})
        return properties

    def kafkarig(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the kafkarig CLI on this stack file (``--stack`` is added)."""
        return subprocess.run(
            [sys.executable, "-m", "infra", *args, "--stack", str(self.file)],
            capture_output=True,
            text=True,
            timeout=120,
        )


@contextmanager
def secure_stack(
    example: str, folder: Path, edit: Callable[[str], str] = lambda text: text
) -> Iterator[SecureStack]:
    """Copy ``examples/<example>`` (through ``edit``) to ``folder/stack.toml``, bring it up,
    yield it, and take it down (with its volumes) afterwards."""
    path = folder / "stack.toml"
    path.write_text(edit((EXAMPLES / example).read_text(encoding="utf-8")), encoding="utf-8")
    stack = load_stack(path)
    try:
        yield SecureStack(stack, folder, lifecycle.up(stack, folder))
    finally:
        lifecycle.down(stack)


def refusal(
    bootstrap: str,
    config: Mapping[str, Any],
    expected: frozenset[int] = REFUSED,
    timeout_s: float = 15,
) -> ClientErrors:
    """Ask for the cluster's description with ``config`` and expect a refusal: the client's
    errors, as soon as one of them has an ``expected`` code (or when the request fails)."""
    errors = ClientErrors()
    settings = {**config, "socket.connection.setup.timeout.ms": 5000}
    admin = admin_ops.admin_client(bootstrap, settings, errors=errors)
    future = admin.describe_cluster(request_timeout=timeout_s)
    deadline = time.monotonic() + timeout_s + 1
    while time.monotonic() < deadline:
        admin.poll(0.1)  # error_cb runs inside poll()
        if {error.code() for error in errors.seen} & expected:
            return errors
        if future.done():
            break
    with contextlib.suppress(KafkaException, TimeoutError):
        future.result(timeout=0.1)
        raise AssertionError(f"{bootstrap} answered a client with {sorted(config)}")
    admin.poll(0.5)
    return errors
