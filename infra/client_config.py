"""What a client needs to reach a stack: ``kafkarig client-config`` output, in three formats.

``librdkafka``
    Properties for confluent-kafka and other librdkafka clients, also what the harness's
    ``--client-config`` and ``kcat -F`` read. Host-name verification is spelled out
    (``ssl.endpoint.identification.algorithm=https``; librdkafka before 2.0 had it off).
``kcat``
    The same properties for ``kcat -F FILE``, less the host-name verification line: kcat
    drops that property when it reads a file (librdkafka 2.x verifies host names anyway).
``java``
    ``client.properties`` for the Java client and Kafka's own tools (``--command-config``):
    SASL through ``sasl.jaas.config``, the CA as a PEM truststore. Escaped for
    ``java.util.Properties`` (which reads ISO-8859-1: other characters become ``\\uXXXX``).

The functions take plain arguments; the stack model supplies them. A rendered file holds a
password: :func:`write_private` writes it with mode 0600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from infra.errors import KafkarigError

PROTOCOLS: Final = ("plaintext", "ssl", "sasl_plaintext", "sasl_ssl")
MECHANISMS: Final = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
FORMATS: Final = ("librdkafka", "kcat", "java")
_JAAS_MODULES: Final = {
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
}


class ClientConfigError(KafkarigError):
    """The settings cannot make a client config (unknown protocol, missing credentials)."""


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client config says: where, which protocol, who, and which CA.

    ``client_keystore`` is a PEM file with a client key and its certificate chain (for a
    TLS listener that asks for client certificates).
    """

    bootstrap: str
    protocol: str = "plaintext"
    mechanism: str | None = None
    user: str | None = None
    password: str | None = None
    ca_path: Path | None = None
    client_keystore: Path | None = None

    @property
    def uses_sasl(self) -> bool:
        """Whether the protocol authenticates with SASL."""
        return self.protocol.startswith("sasl_")

    @property
    def uses_tls(self) -> bool:
        """Whether the connection is encrypted."""
        return self.protocol in ("ssl", "sasl_ssl")

    def check(self) -> None:
        """Raise :class:`ClientConfigError` for settings no client could use."""
        if self.protocol not in PROTOCOLS:
            raise ClientConfigError(
                f"unknown protocol {self.protocol!r}; expected one of {', '.join(PROTOCOLS)}"
            )
        if not self.bootstrap:
            raise ClientConfigError("no bootstrap servers to connect to")
        if self.uses_sasl:
            if self.mechanism not in MECHANISMS:
                raise ClientConfigError(
                    f"unknown SASL mechanism {self.mechanism!r}; expected one of "
                    f"{', '.join(MECHANISMS)}"
                )
            if not self.user or self.password is None:
                raise ClientConfigError(
                    f"protocol {self.protocol} needs a user and a password",
                    hint="declare the user in [[users]] with a password or password_env",
                )
        if not self.uses_tls and (self.ca_path or self.client_keystore):
            raise ClientConfigError(f"protocol {self.protocol} has no TLS: no CA or keystore")


def _librdkafka_properties(settings: ClientSettings, *, verify_line: bool) -> list[tuple[str, str]]:
    properties = [
        ("bootstrap.servers", settings.bootstrap),
        ("security.protocol", settings.protocol.upper()),
    ]
    if settings.uses_sasl:
        properties += [
            ("sasl.mechanism", str(settings.mechanism)),
            ("sasl.username", str(settings.user)),
            ("sasl.password", str(settings.password)),
        ]
    if settings.uses_tls:
        if settings.ca_path is not None:
            properties.append(("ssl.ca.location", str(settings.ca_path.resolve())))
        if settings.client_keystore is not None:
            keystore = str(settings.client_keystore.resolve())
            properties += [("ssl.certificate.location", keystore), ("ssl.key.location", keystore)]
        if verify_line:
            properties.append(("ssl.endpoint.identification.algorithm", "https"))
    return properties


def _librdkafka_value(key: str, value: str) -> str:
    # kcat and the harness drop a line's surrounding whitespace and remove backslashes
    # before ':' and '='; a value they would change cannot be written.
    shown = "***" if "password" in key else repr(value)
    if "\n" in value or "\r" in value:
        raise ClientConfigError(f"the value of {key} ({shown}) has a line break")
    if value != value.strip():
        raise ClientConfigError(f"the value of {key} ({shown}) starts or ends with whitespace")
    if "\\:" in value or "\\=" in value:
        raise ClientConfigError(f"the value of {key} ({shown}) has a backslash before ':' or '='")
    return value


def librdkafka_properties(settings: ClientSettings) -> dict[str, str]:
    """The librdkafka properties of ``settings`` (what an AdminClient takes), host-name
    verification spelled out."""
    settings.check()
    return dict(_librdkafka_properties(settings, verify_line=True))


def java_escape(value: str) -> str:
    """A value escaped for a ``java.util.Properties`` file."""
    return _java_escape(value)


def _java_escape(value: str) -> str:
    out: list[str] = []
    for index, char in enumerate(value):
        if char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char == " " and index == 0:
            out.append("\\ ")
        elif " " <= char <= "~":
            out.append(char)
        else:
            encoded = char.encode("utf-16-be")
            out += [f"\\u{encoded[i] << 8 | encoded[i + 1]:04x}" for i in range(0, len(encoded), 2)]
    return "".join(out)


def _jaas_quoted(value: str) -> str:
    """A JAAS option value in double quotes (Kafka's JaasConfig unescapes \\\\ and \\")."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _java_properties(settings: ClientSettings) -> list[tuple[str, str]]:
    properties = [
        ("bootstrap.servers", settings.bootstrap),
        ("security.protocol", settings.protocol.upper()),
    ]
    if settings.uses_sasl:
        module = _JAAS_MODULES[str(settings.mechanism)]
        jaas = (
            f"{module} required username={_jaas_quoted(str(settings.user))} "
            f"password={_jaas_quoted(str(settings.password))};"
        )
        properties += [("sasl.mechanism", str(settings.mechanism)), ("sasl.jaas.config", jaas)]
    if settings.uses_tls:
        if settings.ca_path is not None:
            properties += [
                ("ssl.truststore.type", "PEM"),
                ("ssl.truststore.location", str(settings.ca_path.resolve())),
            ]
        if settings.client_keystore is not None:
            properties += [
                ("ssl.keystore.type", "PEM"),
                ("ssl.keystore.location", str(settings.client_keystore.resolve())),
            ]
    return properties


def render_client_config(settings: ClientSettings, fmt: str) -> str:
    """The client config text in ``fmt`` (one of :data:`FORMATS`)."""
    settings.check()
    who = f" for user {settings.user}" if settings.user else ""
    if fmt == "java":
        lines = [f"# kafkarig client config{who}: Java client properties (--command-config)"]
        lines += [f"{key}={_java_escape(value)}" for key, value in _java_properties(settings)]
    elif fmt in ("librdkafka", "kcat"):
        usage = "kcat -F FILE -L" if fmt == "kcat" else "librdkafka properties; kcat -F reads them"
        lines = [f"# kafkarig client config{who}: {usage}"]
        lines += [
            f"{key}={_librdkafka_value(key, value)}"
            for key, value in _librdkafka_properties(settings, verify_line=fmt == "librdkafka")
        ]
    else:
        raise ClientConfigError(
            f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}",
            hint="kafkarig client-config --format librdkafka|kcat|java",
        )
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> Path:
    """Write a client config (it holds a password) readable by its owner only (0600)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as error:
        raise ClientConfigError(f"cannot write the client config {path}: {error}") from error
    return path
