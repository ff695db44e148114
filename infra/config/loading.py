"""Reading a stack: the file, its TOML, the environment's overrides, one error for every problem.

The environment variables that override stack.toml keys are declared in one place,
:class:`EnvironmentOverrides` (pydantic-settings): today ``KAFKARIG_FLAVOR`` for
``[cluster] flavor``. A problem with an overridden key says where the value came from.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.config.problems import describe_errors, show
from infra.config.stack import Stack
from infra.errors import ConfigError

STACK_FILE_NAME = "stack.toml"
"""The stack file kafkarig reads when none is named."""
FLAVOR_ENV_VAR = "KAFKARIG_FLAVOR"
"""Environment variable that overrides ``[cluster] flavor`` of the stack file."""


class EnvironmentOverrides(BaseSettings):
    """Environment variables that override keys of the stack file (empty ones are ignored).

    Each field's alias is the variable, its ``key`` the stack.toml table and key it replaces.
    """

    model_config = SettingsConfigDict(
        case_sensitive=True, env_ignore_empty=True, extra="ignore", frozen=True
    )

    flavor: str | None = Field(
        default=None, validation_alias=FLAVOR_ENV_VAR, json_schema_extra={"key": "cluster.flavor"}
    )

    @classmethod
    def read(cls, env: Mapping[str, str] | None = None) -> EnvironmentOverrides:
        """The overrides in ``env``, or in the process environment when ``env`` is None."""
        if env is None:
            return cls()
        return cls.model_validate({name: value for name, value in env.items() if value})

    def items(self) -> list[tuple[str, str, str, str]]:
        """``(variable, table, key, value)`` for every override that is set."""
        found = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            extra = field.json_schema_extra
            if value is None or not isinstance(extra, dict):
                continue
            table, key = str(extra["key"]).split(".", 1)
            found.append((str(field.validation_alias), table, key, str(value)))
        return found

    def apply(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """The document with the overridden keys replaced (a table that is not one is kept,
        so that its own type error is reported)."""
        result = dict(document)
        for _variable, table, key, value in self.items():
            section = result.get(table, {})
            if isinstance(section, dict):
                result[table] = {**section, key: value}
        return result


def load_stack(path: Path, env: Mapping[str, str] | None = None) -> Stack:
    """Read and validate a stack file.

    ``env`` (default ``os.environ``) may override keys (see :class:`EnvironmentOverrides`).
    Raises :class:`ConfigError` when the file is missing, unreadable, not TOML, or invalid;
    the message lists every problem.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"stack file {path} not found",
            hint=f"copy the {STACK_FILE_NAME} shipped with kafkarig (the repository root) and "
            "edit it, or name another file with --stack FILE",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"stack file {path} cannot be read: {exc.strerror or exc}",
            hint="check that it is a readable file, not a directory",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"stack file {path} is not UTF-8 text (byte {exc.start})",
            hint="TOML files must be UTF-8 encoded",
        ) from None
    return parse_stack(text, source=str(path), env=env).with_source_file(path)


def parse_stack(
    text: str, *, source: str = STACK_FILE_NAME, env: Mapping[str, str] | None = None
) -> Stack:
    """Parse and validate stack TOML text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{source} is not valid TOML: {exc}",
            hint='strings need double quotes ("4.4.0"), tables are [name], each topic is a '
            "[[topics]] table; see the shipped stack.toml",
        ) from None
    return build_stack(data, source=source, env=env)


def build_stack(
    data: Mapping[str, Any], *, source: str = STACK_FILE_NAME, env: Mapping[str, str] | None = None
) -> Stack:
    """Validate parsed stack data (as ``tomllib`` returns it) into a :class:`Stack`."""
    overrides = EnvironmentOverrides.read(env)
    document = overrides.apply(data)
    try:
        return Stack.model_validate(document)
    except ValidationError as exc:
        lines = describe_errors(exc, document, Stack)
        count = len(lines)
        message = f"{source} is invalid ({count} problem{'s' if count != 1 else ''}):\n"
        message += "\n".join(lines)
        locations = {tuple(item["loc"][:2]) for item in exc.errors(include_url=False)}
        for variable, table, key, value in overrides.items():
            if (table, key) not in locations:
                continue
            message += (
                f"\n  (note: [{table}] {key} = {show(value)} comes from the {variable} "
                "environment variable)"
            )
        raise ConfigError(
            message, hint=f"the {STACK_FILE_NAME} shipped with kafkarig documents every key"
        ) from None
