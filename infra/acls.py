"""ACLs as declared in ``[[acls]]``: planned, created and verified through the AdminClient,
logged in as kafkarig's admin.

Each entry is one Kafka ACL binding per operation. ``up`` creates the bindings the cluster
lacks and waits until ``describe_acls`` shows every declared one. Bindings the stack does
not declare are left alone and named in the plan's notes, with the command that removes
them: kafkarig removes nothing it cannot prove it made.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from infra.config import AclSpec, Stack
from infra.errors import KafkarigError, StackError
from infra.plan import Action, Plan, Verb
from infra.readiness import WaitFor
from infra.users import AccessError

#: stack.toml's resource types as the AdminClient names them (the cluster is BROKER there).
RESOURCE_TYPES = {
    "topic": ResourceType.TOPIC,
    "group": ResourceType.GROUP,
    "cluster": ResourceType.BROKER,
    "transactional_id": ResourceType.TRANSACTIONAL_ID,
}
_RESOURCE_NAMES: dict[object, str] = {value: key for key, value in RESOURCE_TYPES.items()}
_ANY = AclBindingFilter(
    ResourceType.ANY,
    None,  # type: ignore[arg-type]  # None matches any name
    ResourcePatternType.ANY,
    None,  # type: ignore[arg-type]
    None,  # type: ignore[arg-type]
    AclOperation.ANY,
    AclPermissionType.ANY,
)

Key = tuple[str, str, str, str, str, str, str]
"""resource type, name, pattern, principal, host, operation, permission (lower-case)."""


def binding_key(binding: AclBinding) -> Key:
    """A binding as comparable words: ``("topic", "user-events", "literal", ...)``."""
    return (
        _RESOURCE_NAMES.get(binding.restype) or _word(binding.restype),
        str(binding.name),
        _word(binding.resource_pattern_type),
        str(binding.principal),
        str(binding.host),
        _word(binding.operation),
        _word(binding.permission_type),
    )


def _word(value: object) -> str:
    """An AdminClient enum member as a lower-case word (``AclOperation.READ`` -> ``read``)."""
    return value.name.lower() if isinstance(value, Enum) else str(value).lower()


def spec_keys(spec: AclSpec) -> list[Key]:
    """The binding of each operation of one ``[[acls]]`` entry."""
    return [
        (
            spec.resource,
            spec.resource_name,
            spec.pattern,
            spec.principal,
            spec.host,
            op,
            spec.permission,
        )
        for op in spec.operations
    ]


def to_binding(key: Key) -> AclBinding:
    """The AdminClient binding of a key."""
    resource, name, pattern, principal, host, operation, permission = key
    return AclBinding(
        RESOURCE_TYPES[resource],
        name,
        ResourcePatternType[pattern.upper()],
        principal,
        host,
        AclOperation[operation.upper()],
        AclPermissionType[permission.upper()],
    )


def describe(spec: AclSpec, operations: Iterable[str] | None = None) -> str:
    """``allow read, write on topic user-events`` (``prefixed`` shown when it is)."""
    pattern = " (prefixed)" if spec.pattern == "prefixed" else ""
    host = f" from {spec.host}" if spec.host != "*" else ""
    ops = ", ".join(operations if operations is not None else spec.operations)
    return f"{spec.permission} {ops} on {spec.resource} {spec.resource_name}{pattern}{host}"


class AclAction(Action):
    """An action on one ``[[acls]]`` entry."""

    kind: ClassVar[str] = "acl"


@dataclass(frozen=True)
class CreateAcl(AclAction):
    """Bindings of an entry that the cluster lacks."""

    spec: AclSpec
    missing: tuple[Key, ...]
    verb: ClassVar[Verb] = "create"

    @property
    def name(self) -> str:
        return self.spec.principal

    def describe(self) -> str:
        return describe(self.spec, [key[5] for key in self.missing])


@dataclass(frozen=True)
class KeepAcl(AclAction):
    """An entry whose every binding the cluster has."""

    spec: AclSpec
    verb: ClassVar[Verb] = "keep"

    @property
    def name(self) -> str:
        return self.spec.principal

    def describe(self) -> str:
        return describe(self.spec) + ", as declared"


def plan_acls(specs: Sequence[AclSpec], existing: set[Key]) -> Plan:
    """What ``up`` would do to each entry, given the bindings the cluster has."""
    actions: list[Action] = []
    declared: set[Key] = set()
    for spec in specs:
        keys = spec_keys(spec)
        declared.update(keys)
        missing = tuple(key for key in keys if key not in existing)
        actions.append(CreateAcl(spec, missing) if missing else KeepAcl(spec))
    notes = tuple(
        f"acl {principal}: {permission} {operation} on {resource} {name} ({pattern}) exists but "
        "stack.toml does not declare it; up leaves it alone (kafka-acls --remove removes it)"
        for resource, name, pattern, principal, _host, operation, permission in sorted(
            existing - declared
        )
    )
    return Plan(tuple(actions), notes)


class AclResources:
    """The ACLs of a stack as a kind of declared resource (see :mod:`infra.plan`)."""

    kind = "acl"
    refusal_error: type[KafkarigError] = AccessError

    def __init__(self, stack: Stack, *, timeout_s: float = 30.0) -> None:
        self.specs = list(stack.acls)
        self.bootstrap_servers = stack.bootstrap_servers
        self.timeout_s = timeout_s

    def plan_offline(self) -> Plan:
        """The plan for a cluster that does not run yet: every entry is created."""
        return plan_acls(self.specs, set())

    def plan(self, admin: AdminClient, *, validate: bool) -> Plan:
        """Compare the declared entries with the cluster's bindings."""
        return plan_acls(self.specs, self._existing(admin))

    def apply(self, admin: AdminClient, plan: Plan) -> None:
        """Create the missing bindings, then wait until the cluster shows every declared one."""
        missing = [
            key for a in plan.of_kind(self.kind) if isinstance(a, CreateAcl) for key in a.missing
        ]
        if missing:
            failures = []
            futures = admin.create_acls(
                [to_binding(key) for key in missing], request_timeout=self.timeout_s
            )
            for binding, future in futures.items():
                try:
                    future.result(timeout=self.timeout_s)
                except (KafkaException, FutureTimeoutError, TimeoutError) as error:
                    failures.append(f"{' '.join(binding_key(binding))}: {error}")
            if failures:
                raise AccessError(
                    "the ACLs were not all created:\n  " + "\n  ".join(failures),
                    hint="the stack is left running; `kafkarig plan` shows what it would do.",
                )
        self.wait_until_declared(admin)

    def wait_until_declared(self, admin: AdminClient) -> None:
        """Wait until ``describe_acls`` shows every declared binding."""
        wanted = {key for spec in self.specs for key in spec_keys(spec)}
        if not wanted:
            return
        try:
            WaitFor(
                expected=f"{len(wanted)} ACL binding(s) as declared",
                probe=lambda: sorted(wanted - self._existing(admin)),
                accept=lambda absent: not absent,
                timeout_s=self.timeout_s,
            ).wait()
        except StackError as error:
            raise AccessError(error.message, hint="the stack is left running.") from error

    def _existing(self, admin: AdminClient) -> set[Key]:
        try:
            bindings = admin.describe_acls(_ANY, request_timeout=self.timeout_s).result(
                timeout=self.timeout_s
            )
        except (KafkaException, FutureTimeoutError, TimeoutError) as error:
            raise AccessError(
                f"could not describe the ACLs on {self.bootstrap_servers}: {error}",
                hint="the stack is left running; `kafkarig status` shows its containers.",
            ) from error
        return {binding_key(binding) for binding in bindings}
