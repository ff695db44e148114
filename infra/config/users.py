"""``[[users]]``: the users clients log in as, each checked on its own.

A user of a SASL stack has a SCRAM credential that ``up`` creates in the cluster: its
password is written in the file (``password``) or, better for real secrets, named by an
environment variable (``password_env``) that is read when kafkarig needs it. A user of an
``ssl`` stack with client certificates has no password: kafkarig issues it a certificate.
Which of these a user needs is a check across sections (:mod:`infra.config.access`).
"""

from __future__ import annotations

import re
from typing import Final

from pydantic import field_validator, model_validator

from infra.config.problems import Problem, problem, raise_problems, show
from infra.config.schema import Section
from infra.config.security import check_user_name

_ENV_NAME_PATTERN: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def password_problem(password: str) -> str | None:
    """Why a password cannot be carried by every client config kafkarig writes, or None."""
    if not password:
        return "the password is empty"
    if password != password.strip():
        return "the password starts or ends with whitespace, which client config files drop"
    if any(ord(char) < 32 or ord(char) == 127 for char in password):
        return "the password has a control character (a line break, a tab, ...)"
    return None


class UserSpec(Section):
    """``[[users]]``: one user, by name, with a password or the variable holding it."""

    name: str
    password: str | None = None
    password_env: str | None = None
    """The environment variable that holds the password (read when kafkarig needs it)."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_user_name(value, "user name")

    @field_validator("password")
    @classmethod
    def _check_password(cls, value: str | None) -> str | None:
        if value is not None and (reason := password_problem(value)) is not None:
            raise problem(reason, hint='e.g. password = "app-secret", or use password_env')
        return value

    @field_validator("password_env")
    @classmethod
    def _check_password_env(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME_PATTERN.fullmatch(value):
            raise problem(
                f"{show(value)} is not an environment variable name; allowed: letters, "
                "digits and '_', not starting with a digit",
                hint='name the variable, not its value: password_env = "APP_PASSWORD"',
            )
        return value

    @model_validator(mode="after")
    def _check_one_password(self) -> UserSpec:
        if self.password is not None and self.password_env is not None:
            raise_problems(
                "user",
                [
                    Problem(
                        "both password and password_env are set",
                        hint="keep one: password_env keeps the secret out of the file",
                        loc=("password_env",),
                    )
                ],
                self,
            )
        return self

    @property
    def has_password(self) -> bool:
        """Whether a password (or the variable holding it) is declared."""
        return self.password is not None or self.password_env is not None
