"""kcat as a test oracle: run it with an argument list (never a shell) and parse its JSON.

:func:`consume` runs ``kcat -b <bootstrap> -C -J -e -o beginning -t <topic>`` and parses one
JSON envelope per line into :class:`KcatRecord` (key, payload and header values are given
back as the exact bytes on the wire). :func:`list_metadata` runs ``kcat -L -J``.

Client properties (``config``: TLS, SASL, anything librdkafka takes) reach kcat in a private
config file (mode 0600, removed afterwards) given as ``-F``, never as ``-X`` arguments that
would show a password in the process list. Because ``-F`` is always given, kcat reads
exactly those properties and not a user's default ``~/.config/kcat.conf``.

A kcat linked against a librdkafka older than 2.6.1 (Debian 12's kcat 1.7.1 links 2.0.2)
cannot log in with SCRAM to Kafka 4.x brokers (librdkafka issue #4895). For a SCRAM login
such a kcat runs with the newer librdkafka inside the confluent-kafka wheel
(``LD_LIBRARY_PATH`` to a link under ``~/.cache/kafkarig/``), when there is one and the kcat
then reports it (:mod:`harness.kcat_library`); ``kafkarig kcat ARGS`` does the same by hand.

A missing binary raises :class:`~harness.errors.KcatNotFoundError` with an install hint; a
non-zero exit raises :class:`~harness.errors.KcatError` with the command, the exit code and
the tail of stderr; a run past ``timeout_s`` is killed and raises
:class:`~harness.errors.KcatTimeoutError`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from harness.client_config import render_client_config
from harness.errors import KcatError, KcatNotFoundError, KcatTimeoutError
from harness.kcat_library import SCRAM_FIXED_IN as SCRAM_FIXED_IN
from harness.kcat_library import effective_librdkafka_version, kcat_environment
from harness.kcat_library import librdkafka_version as librdkafka_version

#: Executable names tried in order (Debian ships ``kcat``; older distributions ``kafkacat``).
KCAT_NAMES: Final[tuple[str, ...]] = ("kcat", "kafkacat")

#: A kcat to use instead of the one on PATH (a name or a path).
KCAT_ENV: Final = "KAFKARIG_KCAT"

_INSTALL_HINT: Final = "install kcat: apt-get install kcat (Debian/Ubuntu), brew install kcat"


@dataclass(frozen=True)
class KcatRecord:
    """One record as kcat's JSON envelope shows it; bytes are exactly the record's bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    payload: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None
    timestamp_type: str | None = None
    broker: int | None = None

    @property
    def key_text(self) -> str | None:
        """The key as UTF-8 text (``None`` for no key)."""
        return None if self.key is None else self.key.decode("utf-8", "replace")

    @property
    def payload_text(self) -> str | None:
        """The payload as UTF-8 text (``None`` for a null value)."""
        return None if self.payload is None else self.payload.decode("utf-8", "replace")

    def json(self) -> Any:
        """The payload parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        if self.payload is None:
            raise ValueError(f"{self.topic}[{self.partition}]@{self.offset} has a null payload")
        return json.loads(self.payload)

    def header(self, name: str) -> bytes | None:
        """The value of the last header called ``name`` (``KeyError`` when absent)."""
        for header_name, value in reversed(self.headers):
            if header_name == name:
                return value
        raise KeyError(name)


@dataclass(frozen=True)
class PartitionInfo:
    """One partition in ``kcat -L -J`` output."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    isrs: tuple[int, ...]
    error: str | None = None


@dataclass(frozen=True)
class TopicInfo:
    """One topic in ``kcat -L -J`` output, partitions sorted by number."""

    name: str
    partitions: tuple[PartitionInfo, ...]
    error: str | None = None

    @property
    def partition_count(self) -> int:
        """How many partitions the topic has."""
        return len(self.partitions)


@dataclass(frozen=True)
class ClusterMetadata:
    """What ``kcat -L -J`` reports: brokers (id -> host:port), controller, topics by name."""

    originating_broker: str
    controller_id: int
    brokers: Mapping[int, str]
    topics: Mapping[str, TopicInfo]


def _wire_bytes(text: str) -> bytes:
    # kcat writes key/payload/header bytes into JSON strings unvalidated; the output was
    # decoded with surrogateescape, so encoding the same way restores the exact bytes.
    return text.encode("utf-8", "surrogateescape")


def _text(output: bytes | str) -> str:
    return output if isinstance(output, str) else output.decode("utf-8", "surrogateescape")


def parse_envelope(line: bytes | str) -> KcatRecord:
    """Parse one line of ``kcat -C -J`` output into a :class:`KcatRecord`.

    Headers come as a flat list ``[name, value, name, value, ...]`` (``value`` may be
    ``null``); older kcat versions wrote an object, which is accepted too.
    """
    raw: Any = json.loads(_text(line))
    if not isinstance(raw, dict):
        raise ValueError(f"not a kcat JSON envelope: {_text(line)[:200]!r}")
    for error_field in ("key_error", "payload_error"):
        if error_field in raw:
            raise ValueError(f"kcat could not deserialize the record: {raw[error_field]}")
    headers: list[tuple[str, bytes | None]] = []
    raw_headers = raw.get("headers") or []
    if isinstance(raw_headers, dict):
        for name, value in raw_headers.items():
            values = value if isinstance(value, list) else [value]
            headers.extend((name, None if v is None else _wire_bytes(v)) for v in values)
    else:
        if len(raw_headers) % 2:
            raise ValueError(f"odd-length kcat header list: {raw_headers!r}")
        for index in range(0, len(raw_headers), 2):
            name, value = raw_headers[index], raw_headers[index + 1]
            headers.append((name, None if value is None else _wire_bytes(value)))
    key, payload = raw.get("key"), raw.get("payload")
    return KcatRecord(
        topic=raw["topic"],
        partition=int(raw["partition"]),
        offset=int(raw["offset"]),
        key=None if key is None else _wire_bytes(key),
        payload=None if payload is None else _wire_bytes(payload),
        headers=tuple(headers),
        timestamp_ms=raw.get("ts"),
        timestamp_type=raw.get("tstype"),
        broker=raw.get("broker"),
    )


def parse_envelopes(output: bytes | str) -> list[KcatRecord]:
    """Parse every non-empty line of ``kcat -C -J`` output."""
    return [parse_envelope(line) for line in _text(output).splitlines() if line.strip()]


def parse_metadata(output: bytes | str) -> ClusterMetadata:
    """Parse the JSON of ``kcat -L -J``."""
    raw: Any = json.loads(_text(output))
    topics: dict[str, TopicInfo] = {}
    for topic in raw.get("topics", []):
        partitions = tuple(
            sorted(
                (
                    PartitionInfo(
                        partition=int(p["partition"]),
                        leader=int(p.get("leader", -1)),
                        replicas=tuple(int(r["id"]) for r in p.get("replicas", [])),
                        isrs=tuple(int(r["id"]) for r in p.get("isrs", [])),
                        error=p.get("error"),
                    )
                    for p in topic.get("partitions", [])
                ),
                key=lambda info: info.partition,
            )
        )
        topics[topic["topic"]] = TopicInfo(topic["topic"], partitions, topic.get("error"))
    origin = raw.get("originating_broker", {})
    return ClusterMetadata(
        originating_broker=str(origin.get("name", "")),
        controller_id=int(raw.get("controllerid", -1)),
        brokers={int(b["id"]): str(b["name"]) for b in raw.get("brokers", [])},
        topics=topics,
    )


def find_kcat(kcat: str | None = None) -> str:
    """The kcat executable to run: ``kcat`` (a name or a path), else ``$KAFKARIG_KCAT``,
    else the first of :data:`KCAT_NAMES` on PATH. Raises
    :class:`~harness.errors.KcatNotFoundError`.
    """
    chosen = kcat or os.environ.get(KCAT_ENV)
    candidates = (chosen,) if chosen else KCAT_NAMES
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    path = os.environ.get("PATH", "")
    raise KcatNotFoundError(
        f"kcat not found: looked for {', '.join(candidates)} on PATH={path!r}",
        hint=_INSTALL_HINT,
    )


@contextmanager
def _config_file(config: Mapping[str, str] | None) -> Iterator[str]:
    """A private (0600) kcat config file holding ``config``, removed afterwards."""
    text = render_client_config(config or {})
    descriptor, path = tempfile.mkstemp(prefix="kafkarig-kcat-", suffix=".conf")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
        yield path
    finally:
        os.unlink(path)


def run_kcat(
    args: Sequence[str],
    *,
    timeout_s: float = 30.0,
    kcat: str | None = None,
    config: Mapping[str, str] | None = None,
) -> bytes:
    """Run kcat with ``args`` (no shell) and the client properties ``config``; return its
    stdout bytes.

    Raises :class:`~harness.errors.KcatError` on a non-zero exit,
    :class:`~harness.errors.KcatTimeoutError` after ``timeout_s``.
    """
    executable = find_kcat(kcat)
    with _config_file(config) as config_path:
        command = [executable, "-F", config_path, *args]
        # Messages show the properties' names, not the file (gone by then) or the values.
        shown = [executable, "-F", f"<{', '.join(config or {}) or 'no properties'}>", *args]
        try:
            completed = subprocess.run(
                command,
                capture_output=True,
                timeout=timeout_s,
                check=False,
                env=kcat_environment(executable) if _uses_scram(config) else None,
            )
        except subprocess.TimeoutExpired as exc:
            stderr = exc.stderr.decode("utf-8", "replace") if exc.stderr else ""
            raise KcatTimeoutError(
                f"kcat did not finish within {timeout_s} s",
                shown,
                None,
                stderr,
                hint="does the topic exist with a leader for every partition, and is the "
                "broker reachable? (-e exits only once every partition is read to its end)",
            ) from exc
        except FileNotFoundError as exc:
            raise KcatNotFoundError(f"kcat vanished: {exc}", hint=_INSTALL_HINT) from exc
        except OSError as exc:
            raise KcatError(f"kcat could not be started: {exc}", shown, None) from exc
    if completed.returncode != 0:
        stderr = completed.stderr.decode("utf-8", "replace")
        raise KcatError(
            "kcat failed",
            shown,
            completed.returncode,
            stderr,
            hint=_scram_hint(executable, config, stderr)
            or "check the bootstrap address, the topic name and the client config "
            "(security.protocol, credentials)",
        )
    return completed.stdout


def _uses_scram(config: Mapping[str, str] | None) -> bool:
    mechanism = (config or {}).get("sasl.mechanism") or (config or {}).get("sasl.mechanisms")
    return bool(mechanism) and str(mechanism).upper().startswith("SCRAM")


def _scram_hint(executable: str, config: Mapping[str, str] | None, stderr: str) -> str | None:
    """A hint for the SCRAM login that old librdkafka cannot do against Kafka 4.x."""
    if not _uses_scram(config) or "invalid credentials" not in stderr:
        return None
    version = effective_librdkafka_version(executable)
    if version is None or version >= SCRAM_FIXED_IN:
        return None
    shown = ".".join(map(str, version))
    return (
        f"{executable} runs librdkafka {shown}, whose SCRAM login Kafka 4.x brokers reject "
        f"as invalid credentials (librdkafka issue #4895, fixed in 2.6.1), and it cannot run "
        f"confluent-kafka's newer librdkafka instead. Use a kcat built with librdkafka >= "
        f"2.6.1 (set {KCAT_ENV}=/path/to/kcat), or a Kafka 3.x broker"
    )


def consume(
    bootstrap: str,
    topic: str,
    count: int | None = None,
    timeout_s: float = 30.0,
    *,
    offset: str = "beginning",
    partition: int | None = None,
    config: Mapping[str, str] | None = None,
    kcat: str | None = None,
) -> list[KcatRecord]:
    """Read ``topic`` from ``offset`` to its current end (at most ``count`` records).

    Runs ``kcat -F <config> -b <bootstrap> -C -J -e -o <offset> -t <topic> [-p N] [-c count]``.
    """
    if count is not None and count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    args = ["-b", bootstrap, "-C", "-J", "-e", "-o", offset, "-t", topic]
    if partition is not None:
        args += ["-p", str(partition)]
    if count is not None:
        args += ["-c", str(count)]
    output = run_kcat(args, timeout_s=timeout_s, kcat=kcat, config=config)
    try:
        return parse_envelopes(output)
    except (ValueError, KeyError) as exc:
        raise KcatError(
            f"kcat output is not JSON envelopes: {exc}", [find_kcat(kcat), *args], 0
        ) from exc


def list_metadata(
    bootstrap: str,
    topic: str | None = None,
    *,
    timeout_s: float = 30.0,
    config: Mapping[str, str] | None = None,
    kcat: str | None = None,
) -> ClusterMetadata:
    """Cluster metadata as kcat sees it: ``kcat -F <config> -b <bootstrap> -L -J [-t topic]``."""
    # kcat's own metadata timeout (-m, whole seconds) fires before ours, with its message.
    args = ["-b", bootstrap, "-L", "-J", "-m", str(max(1, int(timeout_s * 0.8)))]
    if topic is not None:
        args += ["-t", topic]
    output = run_kcat(args, timeout_s=timeout_s, kcat=kcat, config=config)
    try:
        return parse_metadata(output)
    except (ValueError, KeyError, TypeError) as exc:
        raise KcatError(
            f"kcat -L -J output is not metadata JSON: {exc}", [find_kcat(kcat), *args], 0
        ) from exc
