"""Users as declared in ``[[users]]``: SCRAM credentials planned, created and verified
through the AdminClient, logged in as kafkarig's admin.

A credential's password cannot be read back (the cluster keeps a salted hash), so a user is
verified by logging in with its declared password: a user that exists but cannot log in
gets its password updated. Users the stack does not declare are left alone and named in
the plan's notes: kafkarig removes nothing it cannot prove it made. On an ``ssl`` stack
with client certificates users are certificates (:mod:`infra.credentials`): there is no
credential in the cluster to plan, and each user is verified by logging in.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from infra.client_config import librdkafka_properties
from infra.config import Stack
from infra.credentials import client_settings, password_of, state_dir
from infra.errors import KafkarigError, StackError
from infra.plan import Action, Plan, Verb
from infra.readiness import WaitFor, login_errors

SCRAM_ITERATIONS = 8192
_MECHANISMS = {
    "SCRAM-SHA-512": ScramMechanism.SCRAM_SHA_512,
    "SCRAM-SHA-256": ScramMechanism.SCRAM_SHA_256,
}


class AccessError(KafkarigError):
    """Users or ACLs could not be made or verified as declared."""


class UserAction(Action):
    """An action on one user."""

    kind: ClassVar[str] = "user"


@dataclass(frozen=True)
class CreateUser(UserAction):
    """A declared user without a credential for the stack's mechanism."""

    user: str
    mechanism: str
    verb: ClassVar[Verb] = "create"

    @property
    def name(self) -> str:
        return self.user

    def describe(self) -> str:
        return f"{self.mechanism} credential"


@dataclass(frozen=True)
class CreateAdmin(UserAction):
    """kafkarig's admin on a cluster that does not run yet (``up`` writes its credential
    before any other, see :mod:`infra.secrets`)."""

    user: str
    what: str
    verb: ClassVar[Verb] = "create"

    @property
    def name(self) -> str:
        return self.user

    def describe(self) -> str:
        return self.what


@dataclass(frozen=True)
class UpdateUserPassword(UserAction):
    """A declared user that exists but cannot log in with its declared password."""

    user: str
    mechanism: str
    verb: ClassVar[Verb] = "update"

    @property
    def name(self) -> str:
        return self.user

    def describe(self) -> str:
        return f"password (the declared one does not log in), {self.mechanism}"


@dataclass(frozen=True)
class KeepUser(UserAction):
    """A user that logs in as declared."""

    user: str
    what: str
    verb: ClassVar[Verb] = "keep"

    @property
    def name(self) -> str:
        return self.user

    def describe(self) -> str:
        return self.what


def _user_config(stack: Stack, user: str, root: Path | None) -> dict[str, str]:
    properties = librdkafka_properties(client_settings(stack, user, root))
    properties.pop("bootstrap.servers", None)
    return properties


def _refused_login(errors: Sequence[KafkaError]) -> bool:
    return any(error.code() == KafkaError._AUTHENTICATION for error in errors)


class UserResources:
    """The users of a stack as a kind of declared resource (see :mod:`infra.plan`)."""

    kind = "user"
    refusal_error: type[KafkarigError] = AccessError

    def __init__(self, stack: Stack, root: Path | None = None, *, timeout_s: float = 30.0) -> None:
        self.stack = stack
        self.root = root
        self.timeout_s = timeout_s
        self.admin_user = stack.security.admin_user
        self.mechanism = stack.security.sasl_mechanism
        self.names = [user.name for user in stack.users if user.name != self.admin_user]

    def _admin_action(self, *, offline: bool = False) -> UserAction:
        if self.mechanism is None:
            where = "its client certificate"
        elif any(user.name == self.admin_user for user in self.stack.users):
            where = "its password declared in [[users]]"
        else:
            where = f"its password in {state_dir(self.stack, self.root)}/admin.password"
        what = f"kafkarig's admin, a super user ({where})"
        return CreateAdmin(self.admin_user, what) if offline else KeepUser(self.admin_user, what)

    def plan_offline(self) -> Plan:
        """The plan for a cluster that does not run yet: every declared user is created."""
        if self.mechanism is None:
            return self._certificate_plan()
        creates = [CreateUser(name, self.mechanism) for name in self.names]
        return Plan((self._admin_action(offline=True), *creates))

    def _certificate_plan(self) -> Plan:
        keeps = [KeepUser(name, "logs in with its client certificate") for name in self.names]
        return Plan((self._admin_action(), *keeps))

    def plan(self, admin: AdminClient, *, validate: bool) -> Plan:
        """Compare the declared users with the cluster's credentials; a user with a
        credential is logged in with its declared password to see whether it changed."""
        if self.mechanism is None:
            return self._certificate_plan()
        described = self._describe(admin)
        actions: list[Action] = [self._admin_action()]
        for name in self.names:
            password_of(self.stack, name, self.root)  # a missing password_env fails here
            if self.mechanism not in described.get(name, set()):
                actions.append(CreateUser(name, self.mechanism))
            elif _refused_login(self._login(name)):
                actions.append(UpdateUserPassword(name, self.mechanism))
            else:
                actions.append(KeepUser(name, f"{self.mechanism}, logs in as declared"))
        undeclared = sorted(set(described) - {*self.names, self.admin_user})
        notes = tuple(
            f"user {name} has a SCRAM credential but stack.toml does not declare it; up leaves "
            f"it alone (kafka-configs --alter --delete-config {self.mechanism} --entity-type "
            f"users --entity-name {name} removes it)"
            for name in undeclared
        )
        return Plan(tuple(actions), notes)

    def apply(self, admin: AdminClient, plan: Plan) -> None:
        """Create or update the credentials, then wait until each of them logs in."""
        changed = [
            a.name
            for a in plan.of_kind(self.kind)
            if isinstance(a, CreateUser | UpdateUserPassword)
        ]
        if changed and self.mechanism is not None:
            mechanism = _MECHANISMS[self.mechanism]
            upserts: list[UserScramCredentialAlteration] = [
                UserScramCredentialUpsertion(
                    name,
                    ScramCredentialInfo(mechanism, SCRAM_ITERATIONS),
                    password_of(self.stack, name, self.root).encode("utf-8"),
                )
                for name in changed
            ]
            failures = []
            futures = admin.alter_user_scram_credentials(upserts, request_timeout=self.timeout_s)
            for name, future in futures.items():
                try:
                    future.result(timeout=self.timeout_s)
                except (KafkaException, FutureTimeoutError, TimeoutError) as error:
                    failures.append(f"user {name}: {error}")
            if failures:
                raise AccessError(
                    "the users were not all created:\n  " + "\n  ".join(failures),
                    hint="the stack is left running; `kafkarig plan` shows what it would do.",
                )
        self.wait_until_declared(changed if self.mechanism is not None else self.names)

    def wait_until_declared(self, names: Sequence[str]) -> None:
        """Wait until every user in ``names`` logs in with its declared credentials."""
        if not names:
            return
        try:
            WaitFor(
                expected=f"users {', '.join(names)} to log in",
                probe=lambda: [name for name in names if self._login(name)],
                accept=lambda refused: not refused,
                timeout_s=self.timeout_s,
                poll_interval_s=0.5,
            ).wait()
        except StackError as error:
            raise AccessError(
                error.message,
                hint="the stack is left running; `docker logs <broker>` shows why the broker "
                "refuses the login.",
            ) from error

    def _login(self, name: str) -> list[KafkaError]:
        """The errors of one login as ``name`` (empty: it logged in)."""
        config = _user_config(self.stack, name, self.root)
        return login_errors(self.stack.bootstrap_servers, config)

    def _describe(self, admin: AdminClient) -> dict[str, set[str]]:
        """The SCRAM mechanisms each user of the cluster has a credential for."""
        try:
            future = admin.describe_user_scram_credentials(request_timeout=self.timeout_s)
            assert isinstance(future, Future)  # one future when no users are named
            found = future.result(timeout=self.timeout_s)
        except KafkaException as error:
            kafka_error = error.args[0] if error.args else None
            if isinstance(kafka_error, KafkaError) and kafka_error.code() == (
                KafkaError.RESOURCE_NOT_FOUND
            ):
                return {}
            raise AccessError(
                f"could not describe the users on {self.stack.bootstrap_servers}: {error}",
                hint="the stack is left running; `kafkarig status` shows its containers.",
            ) from error
        return {
            name: {
                info.mechanism.name.replace("_", "-") for info in description.scram_credential_infos
            }
            for name, description in found.items()
        }
