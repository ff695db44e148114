"""The resources a stack declares inside its cluster, planned and applied across kinds.

The kinds are the users and ACLs of a secure stack (:mod:`infra.users`, :mod:`infra.acls`),
the topics, and the share groups (:mod:`infra.share_groups`), in that order. ``up`` plans
every kind first and applies nothing when any kind refuses something, so a stack is never
left half changed by a plan the user did not accept. Every AdminClient logs in as kafkarig's
admin on a secure stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from infra.acls import AclResources
from infra.config import Stack
from infra.credentials import admin_client_config
from infra.plan import DeclaredResources, Plan, refused_message
from infra.share_groups import ShareGroupResources
from infra.topics import TopicReport, TopicResources, admin_client, topic_reports
from infra.users import UserResources

RUNNING_STACK_HINT = (
    "the stack is left running as it is; change stack.toml as said above and run `kafkarig up` "
    "again (`kafkarig plan` shows what it would do), or `kafkarig down` to remove the stack."
)


@dataclass(frozen=True)
class Applied:
    """What applying the declared resources did."""

    plan: Plan
    topics: list[TopicReport]


def declared_kinds(stack: Stack) -> list[str]:
    """The kinds of resource the stack declares, in the order they are applied."""
    access = ["user", "acl"] if stack.security.authenticates else []
    share = ["share group"] if _declares_share_groups(stack) else []
    return [*access, "topic", *share]


def _declares_share_groups(stack: Stack) -> bool:
    return stack.share_groups is not None and stack.share_groups.enabled


def declared_resources(stack: Stack, root: Path | None = None) -> list[DeclaredResources]:
    """Every kind of resource the stack declares, in the order they are applied (the share
    groups after the topics: their DLQ topics are among them)."""
    kinds: list[DeclaredResources] = []
    if stack.security.authenticates:
        kinds += [UserResources(stack, root), AclResources(stack)]
    kinds.append(TopicResources(stack))
    if _declares_share_groups(stack):
        kinds.append(ShareGroupResources(stack))
    return kinds


def stack_admin(stack: Stack, root: Path | None = None) -> AdminClient:
    """An AdminClient on the stack's host listener, logged in as kafkarig's admin when the
    stack is secure."""
    return admin_client(stack.bootstrap_servers, admin_client_config(stack, root))


def plan_declared(stack: Stack, admin: AdminClient | None = None, root: Path | None = None) -> Plan:
    """The plan of every declared resource against the running cluster, validated by it."""
    admin = admin or stack_admin(stack, root)
    return Plan.combine(kind.plan(admin, validate=True) for kind in declared_resources(stack, root))


def plan_declared_offline(stack: Stack, root: Path | None = None) -> Plan:
    """The plan for a cluster that does not run yet: every declared resource is created."""
    plans = []
    if stack.security.authenticates:
        plans += [UserResources(stack, root).plan_offline(), AclResources(stack).plan_offline()]
    plans.append(TopicResources(stack).plan_offline())
    if _declares_share_groups(stack):
        plans.append(ShareGroupResources(stack).plan_offline())
    return Plan.combine(plans)


def apply_declared(stack: Stack, root: Path | None = None) -> Applied:
    """Plan every kind, refuse before changing anything, then apply and verify each kind.

    Raises the kind's error (:class:`~infra.errors.TopicError` for topics) when the plan
    refuses something or a change cannot be applied; the running stack is left as it is.
    """
    admin = stack_admin(stack, root)
    kinds = declared_resources(stack, root)
    plan = Plan.combine(kind.plan(admin, validate=True) for kind in kinds)
    for kind in kinds:
        refused = [action for action in plan.refusals if action.kind == kind.kind]
        if refused:
            raise kind.refusal_error(
                refused_message(Plan(tuple(refused)), f"the {kind.kind}s of stack.toml"),
                hint=RUNNING_STACK_HINT,
            )
    for kind in kinds:
        kind.apply(admin, plan)
    topics = TopicResources(stack)
    return Applied(plan, topic_reports(plan, topics.wait_until_declared(admin), topics.specs))
