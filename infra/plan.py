"""Plans: what ``up`` would do to a stack, as typed actions per kind of resource.

Each kind of thing a stack declares (its containers, its topics; later its users and ACLs)
compares what it declares with what runs and says, resource by resource, what it would do:
create, update, keep, or refuse (with why and what to do instead). ``kafkarig plan`` prints
the plan; ``up`` applies it only when nothing is refused. A new kind of declared resource is
a new :class:`DeclaredResources` with its own :class:`Action` classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from confluent_kafka.admin import AdminClient

from infra.errors import KafkarigError

Verb = Literal["create", "update", "remove", "keep", "refuse"]
_SYMBOLS: dict[Verb, str] = {
    "create": "+",
    "update": "~",
    "remove": "-",
    "keep": "=",
    "refuse": "!",
}


class Action(ABC):
    """One thing a plan would do, or refuses to do, to one resource."""

    kind: ClassVar[str]
    """The kind of resource, singular: ``topic``, ``container`` (later ``user``, ``acl``)."""
    verb: ClassVar[Verb]

    @property
    @abstractmethod
    def name(self) -> str:
        """The resource's name."""

    @abstractmethod
    def describe(self) -> str:
        """What the action does, in a few words after the resource's name."""

    def explain(self) -> list[str]:
        """More lines under the action (why, what to do instead); none by default."""
        return []

    @property
    def changes_something(self) -> bool:
        """Whether applying the action changes the cluster."""
        return self.verb in {"create", "update", "remove"}

    def render(self) -> str:
        """``  + create  topic user-events: 3 partitions`` and its explanation lines."""
        line = f"  {_SYMBOLS[self.verb]} {self.verb:7} {self.kind} {self.name}: {self.describe()}"
        return "\n".join([line, *(f"      {extra}" for extra in self.explain())])


@dataclass(frozen=True)
class Plan:
    """The actions of one or more kinds of resource, and notes that change nothing."""

    actions: tuple[Action, ...] = ()
    notes: tuple[str, ...] = ()

    @classmethod
    def combine(cls, plans: Iterable[Plan]) -> Plan:
        """One plan of several kinds, in the order given."""
        actions: list[Action] = []
        notes: list[str] = []
        for plan in plans:
            actions.extend(plan.actions)
            notes.extend(plan.notes)
        return cls(tuple(actions), tuple(notes))

    @property
    def refusals(self) -> list[Action]:
        """The actions refused, each with why and what to do instead."""
        return [action for action in self.actions if action.verb == "refuse"]

    @property
    def changes(self) -> list[Action]:
        """The actions that change something."""
        return [action for action in self.actions if action.changes_something]

    def of_kind(self, kind: str) -> list[Action]:
        """The actions on one kind of resource."""
        return [action for action in self.actions if action.kind == kind]

    def summary(self) -> str:
        """``1 to create, 2 to update, 3 unchanged, 1 refused``."""
        counts: dict[Verb, int] = {}
        for action in self.actions:
            counts[action.verb] = counts.get(action.verb, 0) + 1
        words = {
            "create": "to create",
            "update": "to update",
            "remove": "to remove",
            "keep": "unchanged",
            "refuse": "refused",
        }
        parts = [f"{counts[verb]} {words[verb]}" for verb in words if verb in counts]
        return ", ".join(parts) if parts else "nothing declared"

    def render(self, kinds: Sequence[str] = ()) -> str:
        """The plan as ``kafkarig plan`` prints it: a section per kind of resource (``kinds``
        first, even when empty, then any other kind in order), then the notes."""
        order = list(kinds) + [a.kind for a in self.actions if a.kind not in kinds]
        lines = []
        for kind in dict.fromkeys(order):
            actions = self.of_kind(kind)
            lines.append(f"{kind}s:")
            lines.extend(action.render() for action in actions)
            if not actions:
                lines.append("  (none declared)")
        if self.notes:
            lines.append("notes:")
            lines.extend(f"  - {note}" for note in self.notes)
        return "\n".join(lines)


class DeclaredResources(Protocol):
    """A kind of resource a stack declares and ``up`` makes so: plan, apply, verify."""

    kind: str
    refusal_error: type[KafkarigError]
    """The error ``up`` raises when this kind's plan refuses something or cannot be applied."""

    def plan(self, admin: AdminClient, *, validate: bool) -> Plan:
        """Compare the declaration with the cluster; ``validate`` asks the broker whether each
        change would be accepted (a change it rejects becomes a refusal)."""
        ...

    def apply(self, admin: AdminClient, plan: Plan) -> None:
        """Carry out this kind's changes of ``plan``, then wait until the cluster shows them."""
        ...


def refused_message(plan: Plan, what: str) -> str:
    """The message of an ``up`` that refuses: every refused action with why and instead."""
    lines = [f"{what} cannot be made as declared; nothing was changed:"]
    lines.extend(action.render() for action in plan.refusals)
    return "\n".join(lines)
