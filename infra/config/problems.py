"""Problems with a stack file, as the user reads them.

Validators raise :func:`problem` (a pydantic ``PydanticCustomError`` carrying the message and
a hint) or, when one check finds several things wrong, :func:`raise_problems`. pydantic
collects every error of the whole document; :func:`describe_errors` turns them into one line
per problem: where in the TOML file (``[cluster] port``, ``[[topics]] #1 (user-events)
partitions``), the offending value, what is allowed, a hint, and "did you mean" for a near
miss. No pydantic wording reaches the user.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

ERROR_TYPE = "kafkarig"
"""The pydantic error type of every problem kafkarig's validators report."""

_BARE_TOML_KEY = re.compile(r"[A-Za-z0-9_-]+")
_KEY_MARKER = "[key]"  # pydantic's location suffix for an error about a mapping's key


def problem(message: str, hint: str | None = None) -> PydanticCustomError:
    """A validation error with kafkarig's message and hint; raise it from a validator."""
    return PydanticCustomError(ERROR_TYPE, "{message}", {"message": message, "hint": hint or ""})


@dataclass(frozen=True)
class Problem:
    """One of several things a single check found wrong, at ``loc`` below the checked value."""

    message: str
    hint: str | None = None
    loc: tuple[str | int, ...] = ()


def raise_problems(title: str, problems: Sequence[Problem], value: object) -> NoReturn:
    """Raise several problems at once from one validator; pydantic prefixes their locations."""
    details = [
        InitErrorDetails(type=problem(item.message, item.hint), loc=item.loc, input=value)
        for item in problems
    ]
    raise ValidationError.from_exception_data(title, details)


# --------------------------------------------------------------------------- wording


def show(value: object) -> str:
    """A value as the user wrote it in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def toml_type(value: object) -> str:
    """The TOML type name of a parsed value."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def suggest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for a near miss among ``choices``, else ``""``."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def quoted_list(values: Iterable[str]) -> str:
    """``'a', 'b'``."""
    return ", ".join(f"'{value}'" for value in values)


# --------------------------------------------------------------------------- reporting


def describe_errors(
    error: ValidationError, document: Mapping[str, Any], root: type[BaseModel]
) -> list[str]:
    """One ``  - where: what`` line (plus an indented hint) per problem, in document order."""
    return list(_describe(error, document, root))


def _describe(
    error: ValidationError, document: Mapping[str, Any], root: type[BaseModel]
) -> Iterator[str]:
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if part != _KEY_MARKER)
        place = where(loc, document, root)
        if item["type"] == ERROR_TYPE:
            context = item.get("ctx", {})
            yield _line(f"{place}: {context['message']}", context.get("hint"))
        elif item["type"] == "extra_forbidden":
            yield _unknown_key_line(loc, document, root)
        else:
            message, hint = _describe_type_error(item["type"], loc, item)
            yield _line(f"{place}: {message}", hint)


def _line(text: str, hint: str | None) -> str:
    return f"  - {text}" + (f"\n      hint: {hint}" if hint else "")


def _unknown_key_line(
    loc: tuple[str | int, ...], document: Mapping[str, Any], root: type[BaseModel]
) -> str:
    parent, key = loc[:-1], str(loc[-1])
    allowed = list(_model_at(root, parent).model_fields)
    place = f"in {where(parent, document, root)}" if parent else "at the top level"
    return _line(
        f"unknown key '{key}' {place}" + suggest(key, allowed),
        f"allowed keys {place}: {', '.join(allowed)}",
    )


def _describe_type_error(
    kind: str, loc: tuple[str | int, ...], item: Mapping[str, Any]
) -> tuple[str, str | None]:
    value = item.get("input")
    got = f"got {toml_type(value)}"
    if not isinstance(value, dict | list):
        got += f" ({show(value)})"
    if kind == "missing":
        return "required key is missing", None
    if kind == "list_type" and len(loc) == 1:
        return (
            f"expected an array of tables, {got}",
            f"write each entry as a [[{loc[0]}]] table (double brackets)",
        )
    if kind == "list_type":
        return f"expected an array, {got}", None
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return f"expected a table, {got}", None
    if kind == "int_type":
        return f"expected an integer, {got}", "write numbers without quotes, e.g. 3"
    if kind == "string_type":
        return f"expected a string, {got}", 'write strings in double quotes, e.g. "4.4.0"'
    if kind == "bool_type":
        return f"expected true or false, {got}", None
    if kind == "literal_error":
        return f"{show(value)} is not allowed; expected {item['ctx']['expected']}", None
    return f"{item['msg']}, {got}", None


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel]:
    """The section model found at a location (list indexes step into the item type)."""
    model = root
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[part].annotation
        candidates = get_args(annotation) if get_origin(annotation) else (annotation,)
        model = next(c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel))
    return model


def where(loc: Sequence[str | int], document: Mapping[str, Any], root: type[BaseModel]) -> str:
    """A location as the user sees it in the TOML file: ``[cluster] port``,
    ``[[topics]] #1 (user-events) partitions``, ``[cluster] broker_config."log.dirs"``.

    The entries of a top-level array of tables (``[[topics]]``; later ``[[users]]``,
    ``[[acls]]``) are named by position and, when they have one, by ``name``.
    """
    if not loc:
        return "top level"
    head, rest = str(loc[0]), list(loc[1:])
    field = root.model_fields.get(head)
    if field is not None and get_origin(field.annotation) is list:
        section = f"[[{head}]]"
        entries = document.get(head)
        if rest and isinstance(rest[0], int):
            index = int(rest.pop(0))
            section += f" #{index + 1}"
            if isinstance(entries, list) and index < len(entries):
                entry = entries[index]
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    section += f" ({entry['name']})"
    elif field is not None:
        section = f"[{head}]"
        table = document.get(head)
        if len(rest) >= 2 and isinstance(rest[1], int) and isinstance(table, Mapping):
            # An array of tables inside a table: [[share_groups.groups]] #1 (workers)
            key, index = str(rest[0]), int(rest[1])
            entries = table.get(key)
            if isinstance(entries, list):
                rest = rest[2:]
                section = f"[[{head}.{key}]] #{index + 1}"
                entry = entries[index] if index < len(entries) else None
                if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                    section += f" ({entry['name']})"
    else:
        section, rest = "", list(loc)
    keys = ".".join(
        str(part) if _BARE_TOML_KEY.fullmatch(str(part)) else json.dumps(str(part)) for part in rest
    )
    return f"{section} {keys}".strip()
