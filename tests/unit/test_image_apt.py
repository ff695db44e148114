"""The Debian mirror of the base image, from real apt source files, and the versions it offers."""

from __future__ import annotations

import hashlib
import http.server
import lzma
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from infra.errors import ImageBuildError
from infra.images import apt, base
from infra.images.context import INPUTS_LABEL

SOURCES = Path(__file__).parent / "apt_sources"


def mirrors_of(host: str, env: dict[str, str] | None = None) -> apt.DebianMirrors:
    """The mirrors chosen on a host whose /etc/apt is ``apt_sources/<host>/etc/apt``."""
    return apt.choose_mirrors(apt.host_sources(SOURCES / host / "etc" / "apt"), env or {})


def test_debian_12_deb822_sources_give_the_mirror_and_the_security_mirror() -> None:
    mirrors = mirrors_of("debian12-deb822")
    assert mirrors.main == "http://deb.debian.org/debian"
    assert mirrors.security == "http://deb.debian.org/debian-security"
    assert "debian.sources" in mirrors.reason


def test_a_disabled_deb822_stanza_is_skipped() -> None:
    sources = apt.host_sources(SOURCES / "debian12-deb822" / "etc" / "apt")
    assert all("mirror.example.invalid" not in source.uri for source in sources)


def test_one_line_sources_with_signed_by_options_give_the_uri_not_the_option() -> None:
    mirrors = mirrors_of("debian12-one-line")
    # The third-party repository that also names "bookworm" (00-example.list) is not Debian.
    assert mirrors.main == "http://ftp.de.debian.org/debian"
    assert mirrors.security == "http://security.debian.org/debian-security"


def test_options_with_spaces_inside_the_brackets_are_read_whole() -> None:
    (source,) = apt.parse_one_line_sources(
        "deb [ arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg ] "
        "http://ftp.de.debian.org/debian bookworm-updates main",
        "x",
    )
    assert source.uri == "http://ftp.de.debian.org/debian"
    assert source.suites == ("bookworm-updates",)
    assert source.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


@pytest.mark.parametrize("host", ["ubuntu2204", "ubuntu2404"])
def test_an_ubuntu_host_gets_debians_default_mirror_and_says_why(host: str) -> None:
    mirrors = mirrors_of(host)
    assert mirrors.main == apt.DEFAULT_MIRROR
    assert mirrors.security == apt.DEFAULT_SECURITY_MIRROR
    assert "no Debian bookworm mirror" in mirrors.reason
    assert apt.MIRROR_ENV_VAR in mirrors.reason


def test_ubuntu_24_04_deb822_with_an_inline_key_parses() -> None:
    sources = apt.host_sources(SOURCES / "ubuntu2404" / "etc" / "apt")
    suites = {suite for source in sources for suite in source.suites}
    assert {"noble", "noble-security", "stable"} <= suites


def test_the_environment_overrides_the_host_sources() -> None:
    mirrors = mirrors_of(
        "debian12-deb822",
        {
            apt.MIRROR_ENV_VAR: "http://mirror.internal/debian/",
            apt.SECURITY_MIRROR_ENV_VAR: "http://mirror.internal/debian-security",
        },
    )
    assert mirrors.main == "http://mirror.internal/debian"
    assert mirrors.security == "http://mirror.internal/debian-security"
    assert apt.MIRROR_ENV_VAR in mirrors.reason


def test_the_three_suites_become_apt_lines_with_the_debian_keyring() -> None:
    lines = mirrors_of("debian12-deb822").apt_lines(Path("/k.gpg"))
    assert lines == [
        "deb [signed-by=/k.gpg] http://deb.debian.org/debian bookworm main",
        "deb [signed-by=/k.gpg] http://deb.debian.org/debian bookworm-updates main",
        "deb [signed-by=/k.gpg] http://deb.debian.org/debian-security bookworm-security main",
    ]


def test_the_highest_version_of_a_package_wins() -> None:
    index = [
        "Package: openjdk-17-jre-headless",
        "Version: 17.0.15+6-1~deb12u1",
        "",
        "Package: openjdk-17-jre-headless",
        "Version: 17.0.21.1+2-1~deb12u1",
        "",
        "Package: tzdata",
        "Version: 1:2024a-0+deb12u1",
        "",
        "Package: tzdata",
        "Version: 2025b-0+deb12u1",
    ]
    versions = apt.versions_in_index(index)
    assert versions["openjdk-17-jre-headless"] == "17.0.21.1+2-1~deb12u1"
    assert versions["tzdata"] == "1:2024a-0+deb12u1"  # an epoch beats any upstream version


def test_an_updated_package_makes_the_base_image_outdated() -> None:
    installed = {"libc6": "2.36-9+deb12u10", "kcat": "1.7.1-2"}
    offered = {"libc6": "2.36-9+deb12u13", "kcat": "1.7.1-2"}
    assert base.outdated_packages(installed, offered) == [
        "libc6 2.36-9+deb12u10 -> 2.36-9+deb12u13"
    ]
    assert base.outdated_packages(installed, dict(installed)) == []
    assert base.outdated_packages({"gone": "1"}, {}) == ["gone 1 -> gone"]


def test_the_packages_label_round_trips() -> None:
    versions = {"libc6": "2.36-9+deb12u13", "tzdata": "1:2024a-0+deb12u1"}
    assert base.parse_packages_label(base.packages_label(versions)) == versions


class _Mirror(http.server.BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requests.append(self.path)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fake_mirror() -> Iterator[tuple[str, type[_Mirror]]]:
    """A Debian-like mirror on localhost serving InRelease and Packages.xz files."""
    handler = type("Mirror", (_Mirror,), {"files": {}, "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/debian", handler
    server.shutdown()


def publish(handler: type[_Mirror], suite: str, packages: dict[str, str]) -> None:
    """Put a suite with ``packages`` (name → version) on the fake mirror."""
    index = "".join(
        f"Package: {name}\nVersion: {version}\n\n" for name, version in packages.items()
    )
    data = lzma.compress(index.encode())
    path = "main/binary-amd64/Packages.xz"
    digest = hashlib.sha256(data).hexdigest()
    handler.files[f"/debian/dists/{suite}/InRelease"] = (
        f"Origin: Debian\nSHA256:\n {digest} {len(data)} {path}\n".encode()
    )
    handler.files[f"/debian/dists/{suite}/{path}"] = data


def test_mirror_versions_are_read_and_an_unchanged_index_is_not_downloaded_again(
    fake_mirror: tuple[str, type[_Mirror]], tmp_path: Path
) -> None:
    uri, handler = fake_mirror
    mirrors = apt.DebianMirrors(uri, uri, "test")
    publish(handler, "bookworm", {"libc6": "2.36-9+deb12u10", "kcat": "1.7.1-2"})
    publish(handler, "bookworm-updates", {})
    publish(handler, "bookworm-security", {"libc6": "2.36-9+deb12u13"})
    wanted = ["libc6", "kcat"]
    offered = apt.mirror_versions(mirrors, wanted, tmp_path, architecture="amd64")
    assert offered == {"libc6": "2.36-9+deb12u13", "kcat": "1.7.1-2"}
    handler.requests.clear()
    apt.mirror_versions(mirrors, wanted, tmp_path, architecture="amd64")
    assert all(path.endswith("InRelease") for path in handler.requests), handler.requests


def test_an_unreachable_mirror_is_a_clear_error(tmp_path: Path) -> None:
    mirrors = apt.DebianMirrors("http://127.0.0.1:9/debian", "http://127.0.0.1:9/debian", "x")
    with pytest.raises(ImageBuildError, match="does not answer") as caught:
        apt.mirror_versions(mirrors, ["libc6"], tmp_path, architecture="amd64", timeout_s=2)
    assert caught.value.hint and apt.MIRROR_ENV_VAR in caught.value.hint


def test_mmdebstrap_installs_from_the_three_suites_and_records_versions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keyring = tmp_path / "debian-archive-keyring.gpg"
    keyring.write_bytes(b"")
    monkeypatch.setattr(apt, "DEBIAN_KEYRING", keyring)
    command = base.mmdebstrap_command(
        mirrors_of("debian12-deb822"), tmp_path / "rootfs.tar", tmp_path / "packages.txt"
    )
    assert command[:1] == ["mmdebstrap"]
    assert f"--include={','.join(base.BASE_PACKAGES)}" in command
    assert command[-3:] == mirrors_of("debian12-deb822").apt_lines(keyring)
    assert any("dpkg-query" in part and "packages.txt" in part for part in command)


def test_without_the_debian_keyring_the_base_image_build_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(apt, "DEBIAN_KEYRING", tmp_path / "missing.gpg")
    with pytest.raises(ImageBuildError, match="keyring") as caught:
        base.mmdebstrap_command(mirrors_of("ubuntu2404"), tmp_path / "r.tar", tmp_path / "p")
    assert caught.value.hint and "debian-archive-keyring" in caught.value.hint


class _BaseImage:
    """A Docker client stub holding one base image with the given labels."""

    def __init__(self, labels: dict[str, str]) -> None:
        self.labels = labels
        self.image = self

    def exists(self, tag: str) -> bool:
        return True

    def inspect(self, tag: str) -> Any:
        return SimpleNamespace(config=SimpleNamespace(labels=self.labels))


def base_with(packages: dict[str, str]) -> Any:
    """A client whose base image has the current recipe and these package versions."""
    return _BaseImage(
        {
            INPUTS_LABEL: base.base_image_inputs(),
            base.PACKAGES_LABEL: base.packages_label(packages),
        }
    )


def test_a_security_update_on_the_mirror_makes_the_base_image_rebuild(
    fake_mirror: tuple[str, type[_Mirror]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apt, "debian_architecture", lambda: "amd64")
    uri, handler = fake_mirror
    mirrors = apt.DebianMirrors(uri, uri, "test")
    publish(handler, "bookworm", {"libc6": "2.36-9+deb12u10"})
    publish(handler, "bookworm-updates", {})
    publish(handler, "bookworm-security", {})
    current = base.base_state(base_with({"libc6": "2.36-9+deb12u10"}), mirrors, tmp_path)
    assert current.current, current.reason
    publish(handler, "bookworm-security", {"libc6": "2.36-9+deb12u13"})
    outdated = base.base_state(base_with({"libc6": "2.36-9+deb12u10"}), mirrors, tmp_path)
    assert not outdated.current
    assert "libc6 2.36-9+deb12u10 -> 2.36-9+deb12u13" in outdated.reason


def test_an_unreachable_mirror_keeps_the_base_image_and_says_so(tmp_path: Path) -> None:
    mirrors = apt.DebianMirrors("http://127.0.0.1:9/debian", "http://127.0.0.1:9/d", "x")
    state = base.base_state(base_with({"libc6": "1"}), mirrors, tmp_path)
    assert state.current
    assert "could not ask the mirror" in state.reason


def test_a_base_image_of_another_recipe_is_rebuilt(tmp_path: Path) -> None:
    client = _BaseImage({INPUTS_LABEL: "old", base.PACKAGES_LABEL: "libc6=1"})
    mirrors = apt.DebianMirrors("http://127.0.0.1:9/debian", "http://127.0.0.1:9/d", "x")
    assert base.base_state(client, mirrors, tmp_path) == base.BaseState(False, "its recipe changed")
