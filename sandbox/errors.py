"""Errors raised at the sandbox's boundary."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every error the sandbox raises to its caller."""


class HandlerCompileError(SandboxError):
    """The handler's source is not valid Python, or breaks the sandbox policy.

    `problems` lists each one as `{"line", "column", "message"}`, so a form can mark them.
    """

    def __init__(self, problems: list[dict[str, object]]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(f"line {first['line']}: {first['message']}")


def compile_error(problems: list[dict[str, object]]) -> dict[str, object]:
    """A run's `error` for a handler that does not compile: its first problem."""
    first = problems[0]
    message = str(first["message"]).removeprefix("SyntaxError: ")
    return {
        "type": "SyntaxError",
        "message": message,
        "line": first["line"],
        "column": first["column"],
    }


class SandboxUnavailable(SandboxError):
    """No sandbox process could be started or reached."""
