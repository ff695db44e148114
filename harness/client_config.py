"""Client config files: librdkafka properties, exactly as ``kcat -F FILE`` reads them.

One ``property=value`` per line; blank lines and lines starting with ``#`` are skipped;
leading and trailing whitespace of a line is dropped; ``\\:`` and ``\\=`` become ``:`` and
``=`` (kcat accepts Java-escaped files that way); the line is split at its first ``=``.
Unlike kcat, a line that would silently mean something else is an error with its line
number: whitespace around the ``=`` (kcat would look for a property named ``"key "``), a
property given twice, and a line longer than kcat's 511-byte read buffer.

>>> config = parse_client_config("security.protocol=SASL_SSL\\nsasl.mechanism=SCRAM-SHA-512\\n")
>>> config.properties["sasl.mechanism"]
'SCRAM-SHA-512'

The file may name ``bootstrap.servers`` (or librdkafka's older ``metadata.broker.list``);
:attr:`ClientConfig.bootstrap_servers` gives it and :meth:`ClientConfig.client_properties`
leaves it out, for the harness classes that take the bootstrap servers as an argument.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from harness.errors import HarnessError

#: kcat reads a config file with ``fgets`` into a 512-byte buffer: longer lines are split.
KCAT_MAX_LINE_BYTES: Final = 511
BOOTSTRAP_KEYS: Final = ("bootstrap.servers", "metadata.broker.list")
#: Property names whose values are never shown in messages.
SECRET_KEYS: Final = frozenset(
    {
        "sasl.password",
        "sasl.oauthbearer.client.secret",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.key.pem",
        "sasl.jaas.config",
    }
)
_PROPERTY_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ESCAPED: Final = re.compile(r"\\+([:=])")


class ClientConfigError(HarnessError):
    """A client config file cannot be read, or one of its lines is not ``property=value``."""


@dataclass(frozen=True)
class ClientConfig:
    """The properties of one client config file, with the line each one came from."""

    properties: Mapping[str, str]
    source: str = "<client config>"
    lines: Mapping[str, int] = field(default_factory=dict)

    @property
    def bootstrap_servers(self) -> str | None:
        """The file's ``bootstrap.servers`` (or ``metadata.broker.list``), if it names one."""
        for key in BOOTSTRAP_KEYS:
            if self.properties.get(key):
                return self.properties[key]
        return None

    def client_properties(self) -> dict[str, str]:
        """Every property except the bootstrap servers (the harness passes those itself)."""
        return {k: v for k, v in self.properties.items() if k not in BOOTSTRAP_KEYS}

    def where(self, key: str) -> str:
        """``FILE:LINE`` of a property (``FILE`` alone when unknown), for messages."""
        line = self.lines.get(key)
        return f"{self.source}:{line}" if line else self.source

    def redacted(self) -> dict[str, str]:
        """The properties with every secret value replaced by ``***``."""
        return {k: "***" if k in SECRET_KEYS else v for k, v in self.properties.items()}


def _unescape(text: str) -> str:
    # kcat strips the backslash of "\:" and "\=" until none is left, so any run of
    # backslashes before ':' or '=' disappears; this does the same in one pass.
    return _ESCAPED.sub(r"\1", text)


def parse_client_config(text: str, source: str = "<client config>") -> ClientConfig:
    """Parse the text of a client config file; raises :class:`ClientConfigError`."""
    properties: dict[str, str] = {}
    lines: dict[str, int] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{source}:{number}"
        size = len(raw.encode("utf-8"))
        if size > KCAT_MAX_LINE_BYTES:
            problems.append(
                f"{where}: the line has {size} bytes; kcat -F reads at most "
                f"{KCAT_MAX_LINE_BYTES} per line and would split it"
            )
            continue
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = _unescape(line)
        key, equals, value = line.partition("=")
        if not equals or not key:
            problems.append(f"{where}: expected property=value, got {_shown(line)}")
            continue
        if key != key.rstrip() or value != value.lstrip():
            problems.append(
                f"{where}: whitespace around '=' in {_shown(line)}; kcat -F would read the "
                f"property {key!r}. Write {key.strip()}={_masked(key.strip(), value.strip())}"
            )
            continue
        if not _PROPERTY_NAME.fullmatch(key):
            problems.append(f"{where}: {key!r} is not a property name")
            continue
        if key in lines:
            problems.append(f"{where}: {key} is set again (first set on line {lines[key]})")
            continue
        properties[key] = value
        lines[key] = number
    if problems:
        raise ClientConfigError(
            f"client config {source} is not valid:\n  " + "\n  ".join(problems),
            hint="one librdkafka property per line, e.g. security.protocol=SASL_SSL "
            "(the format `kcat -F FILE` reads)",
        )
    return ClientConfig(properties, source, lines)


def load_client_config(path: Path | str) -> ClientConfig:
    """Read and parse a client config file; raises :class:`ClientConfigError`."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ClientConfigError(
            f"client config file {file} does not exist",
            hint="give the path of a librdkafka properties file (what `kcat -F` reads)",
        ) from None
    except UnicodeDecodeError as error:
        raise ClientConfigError(f"client config file {file} is not UTF-8 text: {error}") from None
    except OSError as error:
        raise ClientConfigError(f"cannot read client config file {file}: {error}") from None
    return parse_client_config(text, str(file))


def render_client_config(properties: Mapping[str, str]) -> str:
    """Properties as the text of a client config file that :func:`parse_client_config` and
    ``kcat -F`` read back unchanged. Raises :class:`ClientConfigError` for a value no such
    file can carry (a line break, trailing whitespace, a backslash before ``:`` or ``=``)."""
    lines: list[str] = []
    for key, value in properties.items():
        if not _PROPERTY_NAME.fullmatch(key):
            raise ClientConfigError(f"{key!r} is not a property name")
        text = str(value)
        shown = _masked(key, text)
        if "\n" in text or "\r" in text:
            raise ClientConfigError(f"the value of {key} ({shown}) has a line break")
        if text != text.rstrip() or text != text.lstrip():
            raise ClientConfigError(
                f"the value of {key} ({shown}) starts or ends with whitespace, which a "
                "client config file drops"
            )
        if _ESCAPED.search(text):
            raise ClientConfigError(
                f"the value of {key} ({shown}) has a backslash before ':' or '=', which "
                "kcat -F removes"
            )
        lines.append(f"{key}={text}")
    return "".join(f"{line}\n" for line in lines)


def _masked(key: str, value: str) -> str:
    return "***" if key in SECRET_KEYS else repr(value)


def _shown(line: str) -> str:
    key, equals, _ = line.partition("=")
    if equals and key.strip() in SECRET_KEYS:
        return f"{key}=***"
    return repr(line[:80])
