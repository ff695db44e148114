"""The resources a stack declares inside its cluster, planned and applied across kinds.

The kinds are the topics and the share groups; users and ACLs (secure stacks) become more
entries of :func:`declared_resources`. ``up`` plans every kind first and applies nothing when
any kind refuses something, so a stack is never left half changed by a plan the user did not accept.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import AdminClient

from infra.config import Stack
from infra.plan import DeclaredResources, Plan, refused_message
from infra.share_groups import ShareGroupResources
from infra.topics import TopicReport, TopicResources, admin_client, topic_reports

RUNNING_STACK_HINT = (
    "the stack is left running as it is; change stack.toml as said above and run `kafkarig up` "
    "again (`kafkarig plan` shows what it would do), or `kafkarig down` to remove the stack."
)


@dataclass(frozen=True)
class Applied:
    """What applying the declared resources did."""

    plan: Plan
    topics: list[TopicReport]


def declared_resources(stack: Stack) -> list[DeclaredResources]:
    """Every kind of resource the stack declares, in the order they are applied (the share
    groups after the topics: their DLQ topics are among them)."""
    kinds: list[DeclaredResources] = [TopicResources(stack)]
    if stack.share_groups is not None and stack.share_groups.enabled:
        kinds.append(ShareGroupResources(stack))
    return kinds


def plan_declared(stack: Stack, admin: AdminClient | None = None) -> Plan:
    """The plan of every declared resource against the running cluster, validated by it."""
    admin = admin or admin_client(stack.bootstrap_servers)
    return Plan.combine(kind.plan(admin, validate=True) for kind in declared_resources(stack))


def plan_declared_offline(stack: Stack) -> Plan:
    """The plan for a cluster that does not run yet: every declared resource is created."""
    plans = [TopicResources(stack).plan_offline()]
    if stack.share_groups is not None and stack.share_groups.enabled:
        plans.append(ShareGroupResources(stack).plan_offline())
    return Plan.combine(plans)


def apply_declared(stack: Stack) -> Applied:
    """Plan every kind, refuse before changing anything, then apply and verify each kind.

    Raises the kind's error (:class:`~infra.errors.TopicError` for topics) when the plan
    refuses something or a change cannot be applied; the running stack is left as it is.
    """
    admin = admin_client(stack.bootstrap_servers)
    kinds = declared_resources(stack)
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
