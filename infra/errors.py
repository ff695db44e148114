"""The error hierarchy of the infrastructure side.

Every error a user can cause is a :class:`KafkarigError`: the CLI prints its message (what
failed, expected vs actual, a hint) and exits non-zero, never with a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class KafkarigError(Exception):
    """Root of every error kafkarig raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        """The message with its hint, as the CLI prints it."""
        return self.message if not self.hint else f"{self.message}\nHint: {self.hint}"


class ConfigError(KafkarigError):
    """``stack.toml`` is missing, unreadable or invalid."""


class DockerUnavailableError(KafkarigError):
    """No Docker daemon answers, or the compose plugin is missing."""


def command_details(
    command: Sequence[str], exit_code: int | None, output: str = "", tail_lines: int = 30
) -> str:
    """The indented "command / exit code / last output" block every command error carries."""
    text = f"  command: {' '.join(command)}\n  exit code: {exit_code}"
    tail = output.strip().splitlines()[-tail_lines:]
    if tail:
        text += "\n  last output:\n" + "\n".join(f"    {line}" for line in tail)
    return text


class CommandError(KafkarigError):
    """An external command failed; carries the command, exit code and output tail."""

    def __init__(
        self,
        what: str,
        command: Sequence[str],
        exit_code: int,
        output: str = "",
        *,
        hint: str | None = None,
        tail_lines: int = 30,
    ) -> None:
        self.command = list(command)
        self.exit_code = exit_code
        self.output = output
        super().__init__(
            f"{what}\n{command_details(command, exit_code, output, tail_lines)}", hint=hint
        )


class ImageBuildError(KafkarigError):
    """A local image could not be built."""


class StackError(KafkarigError):
    """The stack failed to start, become healthy or stop."""


class TopicError(KafkarigError):
    """A topic could not be created, or exists other than declared."""


class ShareGroupError(KafkarigError):
    """Share groups or their DLQ are not as ``stack.toml`` declares them."""
