"""``[security]``: how clients on the host reach the brokers, and who kafkarig itself is.

The host listener's protocol is ``plaintext`` (the default: the seed's commands work
verbatim), ``ssl`` (TLS; with ``client_certificates = true`` every client shows a
certificate kafkarig issues, and its name is the principal), ``sasl_plaintext`` or
``sasl_ssl`` (SCRAM logins). The listeners inside the compose network (``INTERNAL``, and
``CONTROLLER`` in KRaft mode) stay plaintext: their principal, ``ANONYMOUS``, is a super
user, so anything on the compose network is trusted (see the README's security section).

kafkarig logs in as ``admin_user`` (a super user) to create users and ACLs; its password is
generated into ``.kafkarig/<project>/admin.password`` unless ``[[users]]`` declares it.
"""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

from pydantic import field_validator, model_validator

from infra.config.problems import Problem, problem, quoted_list, raise_problems, show, suggest
from infra.config.schema import Section

Protocol = Literal["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]
PROTOCOLS: Final[tuple[str, ...]] = get_args(Protocol)
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256"]
MECHANISMS: Final[tuple[str, ...]] = get_args(Mechanism)
DEFAULT_MECHANISM: Final = "SCRAM-SHA-512"
DEFAULT_ADMIN_USER: Final = "admin"

USER_NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""User names kafkarig accepts: safe in a principal, a SCRAM name, a certificate and a file."""
USER_NAME_RULE: Final = (
    "1..64 characters of letters, digits, '.', '_', '@' and '-', starting with a letter or digit"
)

_PROTOCOL_HINT: Final = (
    '"plaintext" (default, no authentication), "ssl" (TLS), "sasl_plaintext" (SCRAM logins '
    'without TLS) or "sasl_ssl" (SCRAM logins over TLS)'
)


def check_user_name(value: str, what: str) -> str:
    """Raise a problem unless ``value`` is a user name kafkarig accepts."""
    if not USER_NAME_PATTERN.fullmatch(value):
        raise problem(
            f"{show(value)} is not a valid {what}; allowed: {USER_NAME_RULE}",
            hint='e.g. "app"',
        )
    return value


class SecuritySection(Section):
    """``[security]``: the host listener's protocol, the SASL mechanism, certificates, and
    the users kafkarig logs in as (itself) and tests with (the smoke suite)."""

    protocol: Protocol = "plaintext"
    mechanism: str | None = None
    """SASL mechanism of the ``sasl_*`` protocols (default SCRAM-SHA-512)."""
    client_certificates: bool = False
    """With ``ssl``: the broker asks every client for a certificate kafkarig issued."""
    admin_user: str = DEFAULT_ADMIN_USER
    smoke_user: str | None = None
    """The user the smoke suite logs in as (default: the admin user)."""
    ca_cert: str | None = None
    """A CA of your own (PEM certificate), relative to the stack file; with ``ca_key``."""
    ca_key: str | None = None

    # ---- derived ------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether the host listener is anything but plaintext."""
        return self.protocol != "plaintext"

    @property
    def uses_sasl(self) -> bool:
        """Whether clients log in with SASL (SCRAM)."""
        return self.protocol.startswith("sasl_")

    @property
    def uses_tls(self) -> bool:
        """Whether the host listener is encrypted (and kafkarig makes certificates)."""
        return self.protocol in ("ssl", "sasl_ssl")

    @property
    def authenticates(self) -> bool:
        """Whether a host client has a name (SASL, or a client certificate): only then do
        users and ACLs mean anything, and only then is the authorizer on."""
        return self.uses_sasl or (self.protocol == "ssl" and self.client_certificates)

    @property
    def sasl_mechanism(self) -> str | None:
        """The SASL mechanism in use, None without SASL."""
        return (self.mechanism or DEFAULT_MECHANISM) if self.uses_sasl else None

    @property
    def kafka_protocol(self) -> str:
        """The protocol as Kafka names it: ``SASL_SSL``."""
        return self.protocol.upper()

    # ---- each key on its own ------------------------------------------------------------

    @field_validator("protocol", mode="before")
    @classmethod
    def _check_protocol(cls, value: object) -> object:
        if isinstance(value, str) and value not in PROTOCOLS:
            near = (
                f"; did you mean '{value.lower()}'?"
                if value.lower() in PROTOCOLS
                else suggest(value, PROTOCOLS)
            )
            raise problem(
                f"{show(value)} is not a protocol; allowed: {quoted_list(PROTOCOLS)}{near}",
                hint=_PROTOCOL_HINT,
            )
        return value

    @field_validator("mechanism")
    @classmethod
    def _check_mechanism(cls, value: str | None) -> str | None:
        if value is None or value in MECHANISMS:
            return value
        if value.upper() == "PLAIN":
            raise problem(
                '"PLAIN" is not supported: its passwords live in the broker\'s configuration '
                "(the compose file, `docker inspect`), not in the cluster",
                hint=f"use {quoted_list(MECHANISMS)}: their credentials are created in the "
                "cluster through the AdminClient, like topics",
            )
        near = (
            f"; did you mean '{value.upper()}'?"
            if value.upper() in MECHANISMS
            else suggest(value, MECHANISMS)
        )
        raise problem(
            f"{show(value)} is not a SASL mechanism kafkarig runs; allowed: "
            f"{quoted_list(MECHANISMS)}{near}",
            hint=f"{DEFAULT_MECHANISM} is the default",
        )

    @field_validator("admin_user", "smoke_user")
    @classmethod
    def _check_user(cls, value: str | None) -> str | None:
        return None if value is None else check_user_name(value, "user name")

    @field_validator("ca_cert", "ca_key")
    @classmethod
    def _check_path(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise problem("the path is empty", hint='a PEM file next to the stack file: "ca.pem"')
        return value

    # ---- keys together ------------------------------------------------------------------

    @model_validator(mode="after")
    def _check_combination(self) -> SecuritySection:
        problems = []
        if self.mechanism is not None and not self.uses_sasl:
            problems.append(
                Problem(
                    f"mechanism is set but protocol {show(self.protocol)} has no SASL login",
                    hint='set protocol = "sasl_ssl" (or "sasl_plaintext"), or drop mechanism',
                    loc=("mechanism",),
                )
            )
        if self.client_certificates and self.protocol != "ssl":
            problems.append(
                Problem(
                    f'client_certificates = true needs protocol "ssl", not {show(self.protocol)}',
                    hint='set protocol = "ssl"; with "sasl_ssl" users log in with SCRAM',
                    loc=("client_certificates",),
                )
            )
        if (self.ca_cert is None) != (self.ca_key is None):
            given, missing = ("ca_cert", "ca_key") if self.ca_key is None else ("ca_key", "ca_cert")
            problems.append(
                Problem(
                    f"{given} is set without {missing}: kafkarig signs the broker certificates "
                    "with your CA, so it needs both",
                    hint=f"add {missing} (PEM, unencrypted key), or drop {given} to let kafkarig "
                    "make its own CA",
                    loc=(missing,),
                )
            )
        elif self.ca_cert is not None and not self.uses_tls:
            problems.append(
                Problem(
                    f"ca_cert is set but protocol {show(self.protocol)} has no TLS",
                    hint='set protocol = "ssl" or "sasl_ssl", or drop ca_cert and ca_key',
                    loc=("ca_cert",),
                )
            )
        if self.smoke_user is not None and not self.authenticates:
            problems.append(
                Problem(
                    f"smoke_user is set but protocol {show(self.protocol)} has no logins",
                    hint='users log in with "sasl_ssl", "sasl_plaintext", or "ssl" with '
                    "client_certificates = true",
                    loc=("smoke_user",),
                )
            )
        if problems:
            raise_problems("security", problems, self)
        return self
