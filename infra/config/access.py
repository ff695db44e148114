"""The checks across ``[security]``, ``[[users]]`` and ``[[acls]]``: who can log in at all,
who needs a password, and whom an ACL may name.

Each function returns the problems it finds, located below the checked field; the root
model (:class:`~infra.config.stack.Stack`) raises them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from infra.config.acls import AclSpec
from infra.config.problems import Problem, quoted_list, show, suggest
from infra.config.security import SecuritySection
from infra.config.users import UserSpec

# kafka-configs reads "SCRAM-SHA-512=[iterations=N,password=P]" and splits at ',': the one
# credential kafkarig writes with it (its admin's, before any SASL login works) cannot hold one.
ADMIN_PASSWORD_FORBIDDEN = ",[]"


def _nobody_logs_in(security: SecuritySection, what: str) -> Problem:
    if security.protocol == "ssl":
        return Problem(
            f'{what} are declared, but protocol "ssl" without client_certificates = true does '
            "not tell clients apart: every host client is anonymous",
            hint="set [security] client_certificates = true (kafkarig issues each user a "
            'certificate), or protocol = "sasl_ssl"',
        )
    return Problem(
        f"{what} are declared, but [security] protocol = {show(security.protocol)} "
        "authenticates nobody",
        hint='set [security] protocol = "sasl_ssl" (SCRAM logins over TLS)',
    )


def user_problems(users: Sequence[UserSpec], security: SecuritySection) -> Iterator[Problem]:
    """Unique names; users only where clients log in; a password exactly where SCRAM needs one."""
    if users and not security.authenticates:
        yield _nobody_logs_in(security, "[[users]]")
        return
    seen: dict[str, int] = {}
    for index, user in enumerate(users):
        if user.name in seen:
            yield Problem(
                f"user {show(user.name)} is already declared by [[users]] #{seen[user.name] + 1}",
                hint="declare each user once",
                loc=(index, "name"),
            )
            continue
        seen[user.name] = index
        admin = user.name == security.admin_user
        if security.uses_sasl and not user.has_password and not admin:
            yield Problem(
                f"no password: a {security.sasl_mechanism} user needs password or password_env",
                hint='e.g. password_env = "APP_PASSWORD" (read when kafkarig needs it)',
                loc=(index,),
            )
        if not security.uses_sasl and user.has_password:
            yield Problem(
                "a password is set, but users of an ssl stack log in with the client "
                "certificate kafkarig issues them",
                hint="drop password / password_env",
                loc=(index, "password" if user.password is not None else "password_env"),
            )
        bad = sorted(set(ADMIN_PASSWORD_FORBIDDEN) & set(user.password or ""))
        if admin and bad:
            yield Problem(
                f"the password of kafkarig's admin user has {quoted_list(bad)}, which "
                "kafka-configs cannot write",
                hint="choose another, or drop this entry: kafkarig then generates one",
                loc=(index, "password"),
            )


def acl_problems(
    acls: Sequence[AclSpec], users: Sequence[UserSpec], security: SecuritySection
) -> Iterator[Problem]:
    """ACLs only where clients log in; each principal a declared user; no entry twice."""
    if acls and not security.authenticates:
        yield _nobody_logs_in(security, "[[acls]]")
        return
    names = [user.name for user in users if user.name != security.admin_user]
    seen: dict[tuple[str, ...], int] = {}
    for index, acl in enumerate(acls):
        if acl.user == security.admin_user:
            yield Problem(
                f"{show(acl.principal)} is kafkarig's admin user, a super user: ACLs do not "
                "restrict it",
                hint="name another user, or drop this entry",
                loc=(index, "principal"),
            )
        elif acl.user != "*" and acl.user not in names:
            declared = f"declared: {quoted_list(names)}" if names else "no user is declared"
            near = suggest(acl.user, names)
            yield Problem(
                f"{show(acl.principal)} is not a declared user ({declared}){near}",
                hint="declare the user in [[users]], or fix the principal",
                loc=(index, "principal"),
            )
        for operation in acl.operations:
            key: tuple[str, ...] = (acl.principal, acl.resource, acl.resource_name)
            key += (acl.pattern, acl.host, acl.permission, operation)
            if key in seen and seen[key] != index:
                yield Problem(
                    f"{acl.permission} {operation} on {acl.resource} {show(acl.resource_name)} "
                    f"for {acl.principal} is already declared by [[acls]] #{seen[key] + 1}",
                    hint="declare each ACL once",
                    loc=(index, "operations"),
                )
            seen.setdefault(key, index)


def smoke_user_problems(security: SecuritySection, users: Sequence[UserSpec]) -> Iterator[Problem]:
    """The smoke suite's user must be one that can log in."""
    smoke = security.smoke_user
    names = [user.name for user in users]
    if smoke is not None and smoke != security.admin_user and smoke not in names:
        declared = f"declared: {quoted_list(names)}" if names else "no user is declared"
        yield Problem(
            f"smoke_user {show(smoke)} is not a declared user ({declared})" + suggest(smoke, names),
            hint="declare it in [[users]], or drop smoke_user to test as the admin user",
            loc=("smoke_user",),
        )
