"""Compile a handler's source under the sandbox policy, or say exactly what is wrong with it."""

from __future__ import annotations

import ast
import types

from RestrictedPython.transformer import RestrictingNodeTransformer

from .errors import HandlerCompileError
from .limits import Limits

FILENAME = "<handler>"


def compile_handler(source: str, limits: Limits | None = None) -> types.CodeType:
    """Return the code object for `source`, or raise HandlerCompileError listing each problem."""
    limits = limits or Limits()
    if not isinstance(source, str):
        raise HandlerCompileError([_problem(1, 1, "the handler's code must be text")])
    size = len(source.encode("utf-8"))
    if size > limits.code_bytes:
        message = f"the code is {size} bytes; the limit is {limits.code_bytes}"
        raise HandlerCompileError([_problem(1, 1, message)])

    tree = _parse(source)
    _check_size(tree, limits)
    _check_has_handler(tree)

    policy = _Policy()
    try:
        policy.visit(tree)
        if policy.problems:
            raise HandlerCompileError(policy.problems)
        return compile(tree, FILENAME, "exec")
    except (MemoryError, RecursionError) as error:
        # A backstop: the depth limit in _check_size keeps well-formed code clear of this.
        message = f"the code cannot be compiled: {type(error).__name__}"
        raise HandlerCompileError([_problem(1, 1, message)]) from None


def check_handler(source: str, limits: Limits | None = None) -> list[dict[str, object]]:
    """The problems `compile_handler` would raise, as a list (empty when the code is fine)."""
    try:
        compile_handler(source, limits)
    except HandlerCompileError as error:
        return error.problems
    return []


def _parse(source: str) -> ast.Module:
    try:
        return ast.parse(source, FILENAME, "exec")
    except SyntaxError as error:
        raise HandlerCompileError(
            [_problem(error.lineno or 1, error.offset or 1, f"SyntaxError: {error.msg}")]
        ) from None
    except RecursionError:
        message = "the code nests too deeply to be parsed"
        raise HandlerCompileError([_problem(1, 1, message)]) from None
    except (MemoryError, ValueError) as error:
        message = f"the code cannot be parsed: {type(error).__name__}"
        raise HandlerCompileError([_problem(1, 1, message)]) from None


def _check_size(tree: ast.Module, limits: Limits) -> None:
    count = 0
    deepest: tuple[int, ast.AST] = (0, tree)
    stack: list[tuple[int, ast.AST]] = [(1, tree)]
    while stack:
        depth, node = stack.pop()
        count += 1
        if depth > deepest[0]:
            deepest = (depth, node)
        stack.extend((depth + 1, child) for child in ast.iter_child_nodes(node))
    if count > limits.ast_nodes:
        message = f"the code has {count} syntax nodes; the limit is {limits.ast_nodes}"
        raise HandlerCompileError([_problem(1, 1, message)])
    depth, node = deepest
    if depth > limits.ast_depth:
        line = getattr(node, "lineno", 1)
        column = getattr(node, "col_offset", 0) + 1
        message = f"the code nests {depth} levels deep; the limit is {limits.ast_depth}"
        raise HandlerCompileError([_problem(line, column, message)])


def _check_has_handler(tree: ast.Module) -> None:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "handler":
            if len(node.args.args) + len(node.args.posonlyargs) != 1:
                message = "handler must take exactly one argument: def handler(webhook):"
                raise HandlerCompileError([_problem(node.lineno, node.col_offset + 1, message)])
            return
    raise HandlerCompileError([_problem(1, 1, "define a function: def handler(webhook):")])


def _problem(line: int, column: int, message: str) -> dict[str, object]:
    return {"line": line, "column": column, "message": message}


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, recording the column of each problem as well as its line."""

    def __init__(self) -> None:
        super().__init__([], [], {})
        self.problems: list[dict[str, object]] = []

    def error(self, node: ast.AST, info: str) -> None:
        super().error(node, info)
        line = getattr(node, "lineno", None) or 1
        column = (getattr(node, "col_offset", None) or 0) + 1
        self.problems.append(_problem(line, column, info))
