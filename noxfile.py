"""kafkarig's sessions: the stack (up, down, status, render, plan), its checks (smoke,
doctor), the local images (image), the project's own checks (tests, lint) and its figures
(bench).

    nox -s up smoke down        bring the stack in stack.toml up, smoke-test it, tear it down
    nox -s lint tests           the project's own checks (builds the local images if needed)

Environments are made with uv and reused: a session installs kafkarig only when its
environment is new or pyproject.toml changed since the last install (a stamp file in the
environment records the hash), so a warm `nox -s up smoke down` spends no time installing.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
SOURCES = ["infra", "harness", "tests", "noxfile.py"]
PROJECT = Path(__file__).resolve().parent
INSTALL_STAMP = ".kafkarig-installed"


def _install(session: nox.Session) -> None:
    """Install kafkarig (editable, with the dev extra) unless this environment has it."""
    wanted = hashlib.sha256((PROJECT / "pyproject.toml").read_bytes()).hexdigest()
    location = getattr(session.virtualenv, "location", None)
    stamp = Path(location) / INSTALL_STAMP if location else None
    if stamp is not None and stamp.is_file() and stamp.read_text() == wanted:
        return
    session.install("-e", ".[dev]")
    if stamp is not None:
        stamp.write_text(wanted)


def _kafkarig(session: nox.Session, command: str) -> None:
    _install(session)
    session.run("python", "-m", "infra", command, *session.posargs)


@nox.session(python=PYTHON)
def up(session: nox.Session) -> None:
    """Bring the stack up: build missing local images, start, wait for health, apply topics."""
    _kafkarig(session, "up")


@nox.session(python=PYTHON)
def down(session: nox.Session) -> None:
    """Tear the stack down (containers, network, volumes unless --keep-data)."""
    _kafkarig(session, "down")


@nox.session(python=PYTHON)
def status(session: nox.Session) -> None:
    """Show brokers, health, bootstrap servers and topics of the stack."""
    _kafkarig(session, "status")


@nox.session(python=PYTHON)
def plan(session: nox.Session) -> None:
    """Show what `up` would do to the stack's containers and topics; change nothing."""
    _install(session)
    session.run("python", "-m", "infra", "plan", *session.posargs)


@nox.session(python=PYTHON)
def render(session: nox.Session) -> None:
    """Render the compose file of the stack without starting anything."""
    _kafkarig(session, "render")


@nox.session(python=PYTHON)
def image(session: nox.Session) -> None:
    """Build the local images (Kafka from Maven Central jars on a Debian Java runtime)."""
    _kafkarig(session, "image")


@nox.session(python=PYTHON)
def doctor(session: nox.Session) -> None:
    """Check this machine for what kafkarig needs, one line per check."""
    _kafkarig(session, "doctor")


@nox.session(python=PYTHON)
def smoke(session: nox.Session) -> None:
    """Run the smoke suite against the running stack (or --bootstrap HOST:PORT)."""
    _install(session)
    session.run(
        "pytest",
        "harness/smoke",
        "--junitxml=reports/smoke.xml",
        "-o",
        "console_output_style=classic",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The project's own tests: unit (no Docker) and integration (real Docker and Kafka)."""
    _install(session)
    # No path here: pytest's testpaths (tests/) apply unless the arguments name others.
    session.run("pytest", "--junitxml=reports/tests.xml", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff format check, ruff lint and mypy --strict."""
    _install(session)
    session.run("ruff", "format", "--check", *SOURCES)
    session.run("ruff", "check", *SOURCES)
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Print the figures: image build, broker start, stack up/down, smoke, throughput."""
    _install(session)
    if not session.posargs:
        session.error(
            "Usage: nox -s bench -- images|start|stack|smoke|throughput|workflow|secure|all "
            "[options]"
        )
    session.run("python", "-m", "tests.bench", *session.posargs)


# --------------------------------------------------------------------------- chaos
# Fault injection with a delivery checker (issue 10). Kept apart from the sessions above.


@nox.session(python=PYTHON)
def chaos(session: nox.Session) -> None:
    """Run the chaos scenarios against the running stack (3+ brokers; --stack FILE)."""
    _install(session)
    session.run(
        "pytest",
        "harness/chaos",
        "--junitxml=reports/chaos.xml",
        "--capture=tee-sys",  # progress lines live, and still in the JUnit report
        "-o",
        "console_output_style=classic",
        *session.posargs,
    )


# -- the retrying consumer's figures and fault runs (need a running stack or make their own) --


@nox.session(python=PYTHON)
def crash(session: nox.Session) -> None:
    """The full crash-point matrix against the running stack (``nox -s up`` first)."""
    _install(session)
    args = session.posargs or ["--records", "10000", "--kills", "24"]
    session.run("python", "-m", "tests.crash_matrix", *args)


@nox.session(name="bench-consumer", python=PYTHON)
def bench_consumer(session: nox.Session) -> None:
    """The consumer's figures: failures, overhead, rss or profile (``nox -s up`` first)."""
    _install(session)
    if not session.posargs:
        session.error("Usage: nox -s bench-consumer -- failures|overhead|rss|profile [options]")
    session.run("python", "-m", "tests.bench_consumer", *session.posargs)


@nox.session(python=PYTHON)
def stability(session: nox.Session) -> None:
    """The failure-injection checks ten times in a row on a 3-broker stack of their own."""
    _install(session)
    session.run("python", "-m", "tests.stability", *session.posargs)
