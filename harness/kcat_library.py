"""Which librdkafka a kcat runs with, and a newer one for a kcat too old for SCRAM on Kafka 4.x.

librdkafka before 2.6.1 answers a SCRAM challenge in a way Kafka 4.x brokers reject as
"invalid credentials" (librdkafka issue #4895); Debian 12's kcat 1.7.1 links 2.0.2. The
confluent-kafka wheel (Linux) ships a current librdkafka: :func:`kcat_environment` gives an
old kcat an ``LD_LIBRARY_PATH`` to a link to it, kept under ``~/.cache/kafkarig/``, when the
kcat then reports the newer version.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from pathlib import Path
from typing import Final

import confluent_kafka

SCRAM_FIXED_IN: Final = (2, 6, 1)
"""The first librdkafka whose SCRAM login Kafka 4.x accepts."""
_LIBRDKAFKA_VERSION: Final = re.compile(r"librdkafka (\d+)\.(\d+)\.(\d+)")


@functools.cache
def librdkafka_version(
    executable: str, library_dir: str | None = None
) -> tuple[int, int, int] | None:
    """The librdkafka version a kcat executable runs with (from ``kcat -V``), if known;
    ``library_dir`` is put first on its ``LD_LIBRARY_PATH``."""
    env = _library_path_env(library_dir) if library_dir else None
    try:
        output = subprocess.run(
            [executable, "-V"], capture_output=True, timeout=10, check=False, env=env
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _LIBRDKAFKA_VERSION.search(output)
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def bundled_librdkafka() -> Path | None:
    """The librdkafka shipped inside the confluent-kafka wheel (Linux wheels), if any."""
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka-*.so.1"))
    return found[0] if found else None


def _library_path_env(library_dir: str) -> dict[str, str]:
    inherited = os.environ.get("LD_LIBRARY_PATH")
    path = f"{library_dir}:{inherited}" if inherited else library_dir
    return {**os.environ, "LD_LIBRARY_PATH": path}


def _cache_dir() -> Path:
    """kafkarig's cache (``$KAFKARIG_CACHE_DIR``, else ``~/.cache/kafkarig``, as the images')."""
    configured = os.environ.get("KAFKARIG_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kafkarig"


@functools.cache
def _newer_library_dir(executable: str) -> str | None:
    """A directory whose ``librdkafka.so.1`` is confluent-kafka's, when ``executable`` runs
    a librdkafka older than :data:`SCRAM_FIXED_IN` and runs the bundled one instead."""
    version = librdkafka_version(executable)
    bundled = bundled_librdkafka()
    if version is None or version >= SCRAM_FIXED_IN or bundled is None:
        return None
    directory = _cache_dir() / f"librdkafka-for-kcat-{bundled.stem}"
    link = directory / "librdkafka.so.1"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink() or link.resolve() != bundled:
            temporary = directory / f".link-{os.getpid()}"
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(bundled)
            temporary.replace(link)
    except OSError:
        return None
    swapped = librdkafka_version(executable, str(directory))
    return str(directory) if swapped is not None and swapped >= SCRAM_FIXED_IN else None


def kcat_environment(executable: str) -> dict[str, str] | None:
    """The environment to run ``executable`` with: None (the caller's) unless it links a
    librdkafka older than 2.6.1, then one that loads confluent-kafka's newer librdkafka."""
    library_dir = _newer_library_dir(executable)
    return _library_path_env(library_dir) if library_dir else None


def effective_librdkafka_version(executable: str) -> tuple[int, int, int] | None:
    """The librdkafka version ``executable`` runs with when kafkarig runs it."""
    library_dir = _newer_library_dir(executable)
    return librdkafka_version(executable, library_dir)
