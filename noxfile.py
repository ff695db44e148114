"""kafkarig's sessions: the stack (up, down, status, render), its checks (smoke), the local
images (image), the project's own checks (tests, lint) and its figures (bench).

    nox -s up smoke down        bring the stack in stack.toml up, smoke-test it, tear it down
    nox -s tests                unit and integration tests (builds the local images if needed)
"""

from __future__ import annotations

import nox

nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "tests"]
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
SOURCES = ["infra", "harness", "tests", "noxfile.py"]


def _install(session: nox.Session) -> None:
    session.install("-e", ".[dev]")


@nox.session(python=PYTHON)
def up(session: nox.Session) -> None:
    """Bring the stack up: render, start, wait for health, create and verify topics."""
    _install(session)
    session.run("python", "-m", "infra", "up", *session.posargs)


@nox.session(python=PYTHON)
def down(session: nox.Session) -> None:
    """Tear the stack down (containers, network, volumes unless --keep-data)."""
    _install(session)
    session.run("python", "-m", "infra", "down", *session.posargs)


@nox.session(python=PYTHON)
def status(session: nox.Session) -> None:
    """Show brokers, health, bootstrap servers and topics of the stack."""
    _install(session)
    session.run("python", "-m", "infra", "status", *session.posargs)


@nox.session(python=PYTHON)
def render(session: nox.Session) -> None:
    """Render the compose file of the stack without starting anything."""
    _install(session)
    session.run("python", "-m", "infra", "render", *session.posargs)


@nox.session(python=PYTHON)
def image(session: nox.Session) -> None:
    """Build the local images (Kafka from Maven Central jars on a Debian Java runtime)."""
    _install(session)
    session.run("python", "-m", "infra", "image", *session.posargs)


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
    session.run("pytest", "tests", "--junitxml=reports/tests.xml", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff format check, ruff lint and mypy --strict."""
    _install(session)
    session.run("ruff", "format", "--check", *SOURCES)
    session.run("ruff", "check", *SOURCES)
    session.run("mypy")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Print the figures: image build, broker start, stack up/down, throughput."""
    _install(session)
    if not session.posargs:
        session.error("Usage: nox -s bench -- images|start|stack|smoke|throughput|all [options]")
    session.run("python", "-m", "tests.bench", *session.posargs)


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
