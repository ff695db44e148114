"""Debian package sources for the base image: which mirror, and which package versions.

The mirror comes from ``$KAFKARIG_DEBIAN_MIRROR``, else from this machine's apt sources
(one-line ``sources.list`` files, options in ``[...]`` included, and deb822 ``.sources``
files), else it is Debian's default mirror: an Ubuntu host names no Debian suite, and the
base image is Debian whatever the host. The versions the mirror offers now are read from
its Packages indexes (``InRelease`` first, so an index is downloaded only when it changed).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import lzma
import os
import platform
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from debian.deb822 import Deb822
from debian.debian_support import Version

from infra.errors import ImageBuildError

DEBIAN_SUITE = "bookworm"
SUITES = (DEBIAN_SUITE, f"{DEBIAN_SUITE}-updates", f"{DEBIAN_SUITE}-security")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
MIRROR_ENV_VAR = "KAFKARIG_DEBIAN_MIRROR"
SECURITY_MIRROR_ENV_VAR = "KAFKARIG_DEBIAN_SECURITY_MIRROR"
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
COMPONENT = "main"

_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` source: where, which suites and components, its key, from which file."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str | None
    origin: str

    @property
    def is_debian_archive(self) -> bool:
        """Whether this looks like Debian's own archive, not a third-party repository that
        also names the codename (those carry a key of their own)."""
        return COMPONENT in self.components and (
            self.signed_by is None or "debian-archive-keyring" in self.signed_by
        )


@dataclass(frozen=True)
class DebianMirrors:
    """The mirrors the base image is built from, and why these."""

    main: str
    security: str
    reason: str

    def suite_uris(self) -> list[tuple[str, str]]:
        """``(mirror, suite)`` for bookworm, bookworm-updates and bookworm-security."""
        return [
            (self.security if suite.endswith("-security") else self.main, suite) for suite in SUITES
        ]

    def apt_lines(self, signed_by: Path | None) -> list[str]:
        """One-line apt sources of the three suites (``main`` only)."""
        option = f"[signed-by={signed_by}] " if signed_by is not None else ""
        return [f"deb {option}{uri} {suite} {COMPONENT}" for uri, suite in self.suite_uris()]


def parse_one_line_sources(text: str, origin: str) -> list[AptSource]:
    """The ``deb`` lines of a one-line ``sources.list``: ``deb [opts] URI SUITE COMP...``."""
    sources = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        # Options may hold spaces ("[ arch=amd64 signed-by=/k.gpg ]"): take them whole.
        options_match = re.search(r"\[([^\]]*)\]", line)
        options = dict(
            item.split("=", 1)
            for item in (options_match.group(1) if options_match else "").split()
            if "=" in item
        )
        words = re.sub(r"\[[^\]]*\]", " ", line).split()
        if len(words) >= 3 and words[0] == "deb":
            sources.append(
                AptSource(words[1], (words[2],), tuple(words[3:]), options.get("signed-by"), origin)
            )
    return sources


def parse_deb822_sources(text: str, origin: str) -> list[AptSource]:
    """The ``deb`` stanzas of a deb822 ``.sources`` file (``Enabled: no`` ones skipped)."""
    # Comment lines may sit inside a stanza; deb822 allows them, python-debian does not.
    cleaned = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    sources: list[AptSource] = []
    for stanza in Deb822.iter_paragraphs(cleaned.splitlines()):
        if stanza.get("Enabled", "yes").strip().lower() == "no":
            continue
        if "deb" not in stanza.get("Types", "").split():
            continue
        suites = tuple(stanza.get("Suites", "").split())
        components = tuple(stanza.get("Components", "").split())
        signed_by = stanza.get("Signed-By")
        sources.extend(
            AptSource(uri, suites, components, signed_by, origin)
            for uri in stanza.get("URIs", "").split()
        )
    return sources


def host_sources(etc_apt: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every ``deb`` source this machine's apt reads, in apt's order."""
    sources: list[AptSource] = []
    sources_list = etc_apt / "sources.list"
    if sources_list.is_file():
        sources += parse_one_line_sources(sources_list.read_text(), str(sources_list))
    parts = etc_apt / "sources.list.d"
    for path in sorted(parts.iterdir()) if parts.is_dir() else []:
        if path.suffix == ".list":
            sources += parse_one_line_sources(path.read_text(), str(path))
        elif path.suffix == ".sources":
            sources += parse_deb822_sources(path.read_text(), str(path))
    return sources


def _first_uri(sources: Iterable[AptSource], suite: str) -> AptSource | None:
    return next(
        (source for source in sources if suite in source.suites and source.is_debian_archive),
        None,
    )


def choose_mirrors(
    sources: Iterable[AptSource], env: Mapping[str, str] | None = None
) -> DebianMirrors:
    """The Debian mirrors to use: environment, else this host's sources, else the defaults."""
    env = os.environ if env is None else env
    sources = list(sources)
    main_source = _first_uri(sources, DEBIAN_SUITE)
    security_source = _first_uri(sources, f"{DEBIAN_SUITE}-security")
    if env.get(MIRROR_ENV_VAR):
        main, reason = env[MIRROR_ENV_VAR], f"from ${MIRROR_ENV_VAR}"
    elif main_source is not None:
        main, reason = main_source.uri, f"from {main_source.origin}"
    else:
        main = DEFAULT_MIRROR
        reason = (
            f"the default: this machine's apt sources name no Debian {DEBIAN_SUITE} mirror "
            f"(set ${MIRROR_ENV_VAR} to use another)"
        )
    if env.get(SECURITY_MIRROR_ENV_VAR):
        security = env[SECURITY_MIRROR_ENV_VAR]
    elif security_source is not None:
        security = security_source.uri
    else:
        security = DEFAULT_SECURITY_MIRROR
    return DebianMirrors(main.rstrip("/"), security.rstrip("/"), reason)


def debian_mirrors() -> DebianMirrors:
    """The mirrors of this machine (see :func:`choose_mirrors`)."""
    return choose_mirrors(host_sources())


def debian_architecture() -> str:
    """The Debian name of this machine's architecture."""
    machine = platform.machine()
    try:
        return _ARCHITECTURES[machine]
    except KeyError:
        raise ImageBuildError(
            f"the local base image is built for amd64 or arm64, not {machine}.",
            hint="use --base-image with a Java 17 image of this machine.",
        ) from None


# --- package versions -------------------------------------------------------------------


def _fetch(url: str, timeout_s: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return bytes(response.read())


def index_sha256(in_release: str, path: str) -> str | None:
    """The SHA256 an ``InRelease`` file lists for ``path`` (``main/binary-amd64/Packages.xz``)."""
    in_section = False
    for line in in_release.splitlines():
        if not line.startswith(" "):
            in_section = line.rstrip() == "SHA256:"
            continue
        if in_section:
            fields = line.split()
            if len(fields) == 3 and fields[2] == path:
                return fields[0]
    return None


def versions_in_index(lines: Iterable[str]) -> dict[str, str]:
    """Every package of a Packages index with its highest version."""
    found: dict[str, str] = {}
    package = None
    for line in lines:
        if line.startswith("Package: "):
            package = line[len("Package: ") :].strip()
        elif line.startswith("Version: ") and package is not None:
            version = line[len("Version: ") :].strip()
            if package not in found or Version(version) > Version(found[package]):
                found[package] = version
    return found


def _decoded_lines(data: bytes) -> Iterator[str]:
    yield from lzma.decompress(data).decode("utf-8", "replace").splitlines()


def mirror_versions(
    mirrors: DebianMirrors,
    packages: Iterable[str],
    cache: Path,
    *,
    architecture: str | None = None,
    timeout_s: float = 10.0,
) -> dict[str, str]:
    """The version of each package the mirror would install now (highest across suites).

    Raises :class:`ImageBuildError` when the mirror does not answer.
    """
    wanted = set(packages)
    index = f"{COMPONENT}/binary-{architecture or debian_architecture()}/Packages.xz"
    cache.mkdir(parents=True, exist_ok=True)
    best: dict[str, str] = {}
    for uri, suite in mirrors.suite_uris():
        url = f"{uri}/dists/{suite}/InRelease"
        try:
            digest = index_sha256(_fetch(url, timeout_s).decode("utf-8", "replace"), index)
            if digest is None:
                raise ImageBuildError(
                    f"{url} lists no {index}.", hint="check that the mirror carries Debian."
                )
            cached = cache / f"{digest}.json"
            if cached.is_file():
                versions: dict[str, str] = json.loads(cached.read_text())
            else:
                data = _fetch(f"{uri}/dists/{suite}/{index}", timeout_s)
                if hashlib.sha256(data).hexdigest() != digest:
                    raise ImageBuildError(
                        f"{uri}/dists/{suite}/{index} does not match its InRelease checksum.",
                        hint="the mirror is being updated; try again in a few minutes.",
                    )
                versions = versions_in_index(_decoded_lines(data))
                cached.write_text(json.dumps(versions, sort_keys=True))
        except (urllib.error.URLError, http.client.HTTPException, OSError, lzma.LZMAError) as error:
            raise ImageBuildError(
                f"the Debian mirror {uri} does not answer ({url}: {error}).",
                hint=f"check the network, or set ${MIRROR_ENV_VAR} / ${SECURITY_MIRROR_ENV_VAR} "
                "to mirrors this machine reaches.",
            ) from error
        for name in wanted & versions.keys():
            if name not in best or Version(versions[name]) > Version(best[name]):
                best[name] = versions[name]
    return best
