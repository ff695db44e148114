"""The base image ``kafkarig/jre``: Debian bookworm with a Java runtime, made by mmdebstrap.

mmdebstrap installs from bookworm, bookworm-updates and bookworm-security in one apt run
(so security updates are in), without recommends, docs, man pages or translations, and
writes the rootfs as a tarball that ``docker import`` takes as it is. The image carries two
labels: the hash of the recipe, and the installed package versions. It is up to date when
the recipe is the same and the mirror offers no other version of any installed package;
``--refresh-base`` rebuilds it regardless.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException

from infra.console import run_streaming, task
from infra.errors import ImageBuildError
from infra.images import apt
from infra.images.context import INPUTS_LABEL, inputs_hash

BASE_IMAGE = "kafkarig/jre:17-bookworm"
PACKAGES_LABEL = "dev.kafkarig.packages"
# passwd gives useradd (not Essential, so minbase would leave it out in later releases).
BASE_PACKAGES = ("openjdk-17-jre-headless", "kcat", "passwd")
APP_UID = 1000
# Paths dpkg never writes: docs, man pages, translations. Their folders stay (update-
# alternatives links man pages into /usr/share/man/man1).
EXCLUDED_PATHS = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/locale/*",
)
# Files the images never need: the JDK's javac symbol table.
TRIMMED_FILES = ("usr/lib/jvm/java-17-openjdk-*/lib/ct.sym",)
BASE_RECIPE_VERSION = "2"


@dataclass(frozen=True)
class BaseState:
    """Whether the base image is current, and why (for the progress line)."""

    current: bool
    reason: str


def base_image_inputs() -> str:
    """The hash of the base image's recipe (package versions are a label of their own)."""
    return inputs_hash(
        [
            BASE_RECIPE_VERSION,
            *apt.SUITES,
            *BASE_PACKAGES,
            *EXCLUDED_PATHS,
            *TRIMMED_FILES,
            str(APP_UID),
        ]
    )


def parse_packages_label(label: str) -> dict[str, str]:
    """``"a=1 b=2"`` → ``{"a": "1", "b": "2"}``."""
    return dict(item.split("=", 1) for item in label.split() if "=" in item)


def packages_label(versions: Mapping[str, str]) -> str:
    """The label value that records installed package versions."""
    return " ".join(f"{name}={version}" for name, version in sorted(versions.items()))


def outdated_packages(installed: Mapping[str, str], offered: Mapping[str, str]) -> list[str]:
    """``name installed -> offered`` for every package whose offered version differs."""
    return [
        f"{name} {version} -> {offered.get(name, 'gone')}"
        for name, version in sorted(installed.items())
        if offered.get(name) != version
    ]


def base_state(client: DockerClient, mirrors: apt.DebianMirrors, cache: Path) -> BaseState:
    """Whether ``kafkarig/jre`` exists with this recipe and the mirror's package versions."""
    if not client.image.exists(BASE_IMAGE):
        return BaseState(False, "not built yet")
    labels = client.image.inspect(BASE_IMAGE).config.labels or {}
    if labels.get(INPUTS_LABEL) != base_image_inputs():
        return BaseState(False, "its recipe changed")
    installed = parse_packages_label(labels.get(PACKAGES_LABEL, ""))
    if not installed:
        return BaseState(False, "it records no package versions (built by an older kafkarig)")
    try:
        offered = apt.mirror_versions(mirrors, installed, cache)
    except ImageBuildError as error:
        return BaseState(True, f"could not ask the mirror for updates, kept ({error.message})")
    outdated = outdated_packages(installed, offered)
    if outdated:
        shown = ", ".join(outdated[:3]) + (
            f" and {len(outdated) - 3} more" if len(outdated) > 3 else ""
        )
        return BaseState(False, f"the mirror has updates: {shown}")
    return BaseState(True, f"up to date ({len(installed)} packages at the mirror's versions)")


def _require_tools() -> None:
    if os.geteuid() != 0:
        raise ImageBuildError(
            f"building {BASE_IMAGE} needs root: mmdebstrap creates device nodes and runs "
            "package scripts in a chroot.",
            hint="run `sudo nox -s image`, or build once as root and reuse the image, or "
            "pass --base-image with a Java 17 image already on this machine.",
        )
    if shutil.which("mmdebstrap") is None:
        raise ImageBuildError(
            "mmdebstrap is not installed.",
            hint="`sudo apt-get install mmdebstrap` (or `sudo bash infra/provision.sh`).",
        )


def _keyring() -> Path:
    """Debian's archive keyring (on Ubuntu hosts from the debian-archive-keyring package)."""
    if apt.DEBIAN_KEYRING.is_file():
        return apt.DEBIAN_KEYRING
    raise ImageBuildError(
        f"Debian's archive keyring {apt.DEBIAN_KEYRING} is missing, so the Debian packages "
        "of the base image cannot be verified.",
        hint="`sudo apt-get install debian-archive-keyring` (or `sudo bash infra/provision.sh`).",
    )


def mmdebstrap_command(mirrors: apt.DebianMirrors, tarball: Path, packages_file: Path) -> list[str]:
    """The mmdebstrap call that writes the base rootfs to ``tarball``."""
    useradd = (
        f"useradd --uid {APP_UID} --user-group --no-create-home --home-dir /nonexistent "
        "--shell /usr/sbin/nologin appuser"
    )
    trim = " ".join(f'"$1"/{pattern}' for pattern in TRIMMED_FILES)
    # Merged /usr made by mmdebstrap itself, so apt installs usr-is-merged, not usrmerge
    # (which would pull in perl, ~45 MB).
    merged_usr = Path("/usr/share/mmdebstrap/hooks/merged-usr")
    return [
        "mmdebstrap",
        "--verbose",
        "--mode=root",
        "--variant=minbase",
        *([f"--hook-dir={merged_usr}"] if merged_usr.is_dir() else []),
        f"--include={','.join(BASE_PACKAGES)}",
        "--aptopt=APT::Install-Recommends false",
        "--aptopt=Acquire::Languages none",
        # A throwaway rootfs: no fsync per file (much faster on slow disks).
        "--dpkgopt=force-unsafe-io",
        *(f"--dpkgopt=path-exclude={pattern}" for pattern in EXCLUDED_PATHS),
        '--essential-hook=mkdir -p "$1/usr/share/man/man1"',
        f'--customize-hook=chroot "$1" {useradd}',
        f"--customize-hook=rm -f {trim}",
        '--customize-hook=chroot "$1" dpkg-query -W -f="\\${Package}=\\${Version}\\n" > '
        f"{packages_file}",
        apt.DEBIAN_SUITE,
        str(tarball),
        *mirrors.apt_lines(_keyring()),
    ]


def _phase(line: str) -> str | None:
    """mmdebstrap's phase ("extracting archives") from its ``I:`` lines."""
    if line.startswith("I: ") and line.endswith("...") and "tempdir" not in line:
        return line[3:].rstrip(".")
    return None


def build_base_image(client: DockerClient, mirrors: apt.DebianMirrors, work_dir: Path) -> int:
    """Make ``kafkarig/jre`` with mmdebstrap and import it; return its size in bytes."""
    _require_tools()
    work = Path(tempfile.mkdtemp(prefix="kafkarig-rootfs-", dir=work_dir))
    tarball = work / "rootfs.tar"
    packages_file = work / "packages.txt"
    try:
        run_streaming(
            mmdebstrap_command(mirrors, tarball, packages_file),
            what=f"{BASE_IMAGE}: mmdebstrap {apt.DEBIAN_SUITE} ({mirrors.main})",
            hint="mmdebstrap needs root and a reachable Debian mirror; its log says which "
            f"package failed. Set ${apt.MIRROR_ENV_VAR} to use another mirror.",
            count=lambda line: line.startswith("Setting up "),
            unit="packages set up",
            detail=_phase,
        )
        versions = dict(
            line.split("=", 1) for line in packages_file.read_text().splitlines() if "=" in line
        )
        with task(f"{BASE_IMAGE}: docker import"):
            client.image.import_(
                tarball,
                tag=BASE_IMAGE,
                changes=[
                    f"LABEL {INPUTS_LABEL}={base_image_inputs()}",
                    f'LABEL {PACKAGES_LABEL}="{packages_label(versions)}"',
                    "ENV LANG=C.UTF-8",
                    'CMD ["/bin/bash"]',
                ],
                message=f"kafkarig base: Debian {apt.DEBIAN_SUITE} minbase + "
                f"{' '.join(BASE_PACKAGES)}",
            )
    except DockerException as error:
        raise ImageBuildError(
            f"importing {BASE_IMAGE} failed: {(error.stderr or '').strip()[-600:]}",
            hint="check `docker info`; the rootfs was removed.",
        ) from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return int(client.image.inspect(BASE_IMAGE).size)
