"""``[[acls]]``: who may do what to which resource, each entry checked on its own.

One entry names a principal (``User:app``, or ``User:*`` for every user), a resource
(``topic``, ``group``, ``cluster`` or ``transactional_id``) by name, literally or as a
prefix, the operations, and whether they are allowed (default) or denied. ``up`` creates
one Kafka ACL binding per operation and verifies them like topics. Whether the principal is
a declared user is a check across sections (:mod:`infra.config.access`).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

from pydantic import field_validator, model_validator

from infra.config.problems import Problem, problem, quoted_list, raise_problems, show, suggest
from infra.config.schema import Section
from infra.config.security import USER_NAME_PATTERN, USER_NAME_RULE

ResourceType = Literal["topic", "group", "cluster", "transactional_id"]
RESOURCE_TYPES: Final[tuple[str, ...]] = get_args(ResourceType)
PatternType = Literal["literal", "prefixed"]
PATTERN_TYPES: Final[tuple[str, ...]] = get_args(PatternType)
Permission = Literal["allow", "deny"]
PERMISSIONS: Final[tuple[str, ...]] = get_args(Permission)
CLUSTER_NAME: Final = "kafka-cluster"
"""The one name of the cluster resource."""
PRINCIPAL_PREFIX: Final = "User:"

#: The operations Kafka checks on each resource type (``all`` means each of them).
OPERATIONS: Final[dict[str, tuple[str, ...]]] = {
    "topic": (
        "read", "write", "create", "delete", "alter", "describe", "describe_configs",
        "alter_configs", "all",
    ),
    "group": ("read", "describe", "delete", "describe_configs", "alter_configs", "all"),
    "cluster": (
        "create", "cluster_action", "describe_configs", "alter_configs", "idempotent_write",
        "alter", "describe", "all",
    ),
    "transactional_id": ("describe", "write", "all"),
}  # fmt: skip


_NAME_EXAMPLES: Final = {
    "topic": "user-events",
    "group": "analytics-group",
    "transactional_id": "orders-tx",
    "cluster": CLUSTER_NAME,
}


def _choice(value: object, allowed: tuple[str, ...], what: str, hint: str) -> object:
    if isinstance(value, str) and value not in allowed:
        raise problem(
            f"{show(value)} is not {what}; allowed: {quoted_list(allowed)}"
            + suggest(value.lower(), allowed),
            hint=hint,
        )
    return value


class AclSpec(Section):
    """``[[acls]]``: operations a principal is allowed (or denied) on one resource."""

    principal: str
    resource: ResourceType
    name: str = ""
    """The resource's name (a prefix with ``pattern = "prefixed"``); the cluster's is
    ``kafka-cluster`` (the default for ``resource = "cluster"``)."""
    pattern: PatternType = "literal"
    operations: list[str]
    permission: Permission = "allow"
    host: str = "*"

    @property
    def user(self) -> str:
        """The principal's user name (``*`` for every user)."""
        return self.principal.removeprefix(PRINCIPAL_PREFIX)

    @field_validator("principal")
    @classmethod
    def _check_principal(cls, value: str) -> str:
        name = value.removeprefix(PRINCIPAL_PREFIX)
        if not value.startswith(PRINCIPAL_PREFIX) or not (
            name == "*" or USER_NAME_PATTERN.fullmatch(name)
        ):
            bare = USER_NAME_PATTERN.fullmatch(value) is not None
            raise problem(
                f"{show(value)} is not a principal; expected User:<name> ({USER_NAME_RULE}) "
                'or "User:*" for every user' + (f"; did you mean 'User:{value}'?" if bare else ""),
                hint='e.g. principal = "User:app"',
            )
        return value

    @field_validator("resource", mode="before")
    @classmethod
    def _check_resource(cls, value: object) -> object:
        return _choice(
            value, RESOURCE_TYPES, "a resource type", 'e.g. resource = "topic" with name = "..."'
        )

    @field_validator("pattern", mode="before")
    @classmethod
    def _check_pattern(cls, value: object) -> object:
        return _choice(
            value,
            PATTERN_TYPES,
            "a pattern type",
            '"literal" matches the name exactly ("*": every resource), "prefixed" every name '
            "starting with it",
        )

    @field_validator("permission", mode="before")
    @classmethod
    def _check_permission(cls, value: object) -> object:
        return _choice(value, PERMISSIONS, "a permission", "a deny wins over any allow")

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str) -> str:
        if not value or any(char.isspace() for char in value):
            raise problem(
                f'{show(value)} is not a host; expected an IP address or "*"',
                hint='clients on the host come from the Docker bridge, so "*" (default) is '
                "the useful value",
            )
        return value

    @model_validator(mode="after")
    def _check_against_resource(self) -> AclSpec:
        problems: list[Problem] = []
        allowed = OPERATIONS[self.resource]
        if not self.operations:
            problems.append(
                Problem(
                    "no operations; an ACL allows or denies at least one",
                    hint=f'e.g. operations = ["read", "describe"]; on a {self.resource}: '
                    f"{quoted_list(allowed)}",
                    loc=("operations",),
                )
            )
        seen: set[str] = set()
        for index, operation in enumerate(self.operations):
            if operation in seen:
                problems.append(
                    Problem(f"{show(operation)} is listed twice", loc=("operations", index))
                )
            seen.add(operation)
            if operation not in allowed:
                problems.append(
                    Problem(
                        f"{show(operation)} is not an operation on a {self.resource}; allowed: "
                        f"{quoted_list(allowed)}" + suggest(operation.lower(), allowed),
                        hint="Kafka's operations, lower-case with '_' (describe_configs)",
                        loc=("operations", index),
                    )
                )
        problems.extend(self._name_problems())
        if problems:
            raise_problems("acl", problems, self)
        return self

    def _name_problems(self) -> list[Problem]:
        if self.resource == "cluster":
            if self.name not in ("", CLUSTER_NAME):
                return [
                    Problem(
                        f"{show(self.name)} is not the cluster's name: it is always "
                        f"{show(CLUSTER_NAME)}",
                        hint="drop name for the cluster resource",
                        loc=("name",),
                    )
                ]
            if self.pattern != "literal":
                return [Problem('the cluster resource is matched "literal" only', loc=("pattern",))]
            return []
        if not self.name:
            example = _NAME_EXAMPLES[self.resource]
            return [
                Problem(
                    f"a {self.resource} ACL needs the {self.resource}'s name",
                    hint=f'e.g. name = "{example}", or name = "*" for all of them',
                    loc=("name",),
                )
            ]
        if self.name == "*" and self.pattern == "prefixed":
            return [
                Problem(
                    'a prefixed "*" matches only names starting with "*"',
                    hint='for every resource write name = "*" with pattern = "literal"',
                    loc=("pattern",),
                )
            ]
        return []

    @property
    def resource_name(self) -> str:
        """The resource's name as Kafka stores it (``kafka-cluster`` for the cluster)."""
        return CLUSTER_NAME if self.resource == "cluster" else self.name
