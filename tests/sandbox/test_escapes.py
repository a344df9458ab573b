"""Attempts to reach the environment, files, sockets, other modules and paybridge's internals."""

from __future__ import annotations

import pytest

from sandbox import SandboxPool

from .support import assert_blocked, handler

FORBIDDEN_IMPORTS = [
    "os",
    "sys",
    "subprocess",
    "ctypes",
    "socket",
    "importlib",
    "gc",
    "inspect",
    "operator",
    "functools",
    "pickle",
    "time",
    "signal",
    "sandbox",
    "transforms",
    "json.decoder",
]


@pytest.mark.parametrize("module", FORBIDDEN_IMPORTS)
def test_import_of_other_modules_is_refused(pool: SandboxPool, module: str) -> None:
    source = handler(f"import {module}\nwebhook.payload = {{'x': str({module.split('.')[0]})}}")
    assert_blocked(pool, source, "ImportError", rf"import of '{module}' is not allowed")


def test_from_import_of_a_submodule_is_refused(pool: SandboxPool) -> None:
    source = handler("from json import decoder")
    assert_blocked(pool, source, "ImportError", "cannot import name 'decoder'")


def test_relative_import_is_refused(pool: SandboxPool) -> None:
    source = handler("from . import policy")
    assert_blocked(pool, source, "ImportError", "relative imports are not allowed")


def test_import_of_builtins_is_refused_at_compile_time(pool: SandboxPool) -> None:
    assert_blocked(pool, handler("import builtins"), "SyntaxError", '"builtins" is a reserved name')


def test_star_import_is_refused(pool: SandboxPool) -> None:
    assert_blocked(pool, handler("from json import *"), "SyntaxError", '"\\*" imports')


ENVIRONMENT_FILES_SOCKETS = [
    pytest.param("import os\nwebhook.payload = dict(os.environ)", "ImportError", id="os.environ"),
    pytest.param("text = open('/etc/passwd').read()", "NameError", id="open"),
    pytest.param("import io\ntext = io.open('/etc/passwd')", "ImportError", id="io.open"),
    pytest.param("import socket\ns = socket.socket()", "ImportError", id="socket"),
    pytest.param("import pathlib\np = pathlib.Path('/')", "ImportError", id="pathlib"),
    pytest.param("x = breakpoint()", "SyntaxError", id="breakpoint"),
    pytest.param("x = compile('1', 'f', 'eval')", "NameError", id="compile"),
    pytest.param("x = exec('import os')", "SyntaxError", id="exec"),
    pytest.param("x = eval('1')", "SyntaxError", id="eval"),
    pytest.param("x = __import__('os')", "SyntaxError", id="__import__"),
    pytest.param("x = input()", "NameError", id="input"),
    pytest.param("x = help()", "NameError", id="help"),
    pytest.param("x = exit()", "NameError", id="exit"),
]


@pytest.mark.parametrize("body, kind", ENVIRONMENT_FILES_SOCKETS)
def test_environment_files_and_sockets_are_out_of_reach(
    pool: SandboxPool, body: str, kind: str
) -> None:
    messages = {
        "ImportError": r"import of '\w+' is not allowed",
        "NameError": r"name '\w+' is not defined",
        "SyntaxError": r"(not allowed|reserved name|starts with \"_\")",
    }
    assert_blocked(pool, handler(body), kind, messages[kind])


DUNDER_REACHES = [
    pytest.param("x = __builtins__", id="__builtins__"),
    pytest.param("x = handler.__globals__", id="__globals__"),
    pytest.param("x = webhook.__class__.__subclasses__()", id="__subclasses__"),
    pytest.param("x = object.__subclasses__()", id="object.__subclasses__"),
    pytest.param("x = webhook.__dict__", id="__dict__"),
    pytest.param("x = webhook._fields", id="webhook._fields"),
    pytest.param("x = webhook.__slots__", id="__slots__"),
    pytest.param("x = [].__class__.__base__", id="list.__class__"),
    pytest.param("x = split_name.__code__", id="helper.__code__"),
]


@pytest.mark.parametrize("body", DUNDER_REACHES)
def test_private_names_are_refused_at_compile_time(pool: SandboxPool, body: str) -> None:
    assert_blocked(pool, handler(body), "SyntaxError", 'starts with "_"')


RUNTIME_PRIVATE_NAMES = [
    pytest.param("getattr(webhook, '_fields')", id="webhook._fields"),
    pytest.param("getattr(webhook, '__dict__')", id="webhook.__dict__"),
    pytest.param("getattr(split_name, '__globals__')", id="helper.__globals__"),
    pytest.param("getattr(getattr(1, '__class__'), '__subclasses__')()", id="__subclasses__"),
    pytest.param("getattr(webhook, chr(95) + 'fields')", id="chr-built-name"),
]


@pytest.mark.parametrize("expression", RUNTIME_PRIVATE_NAMES)
def test_private_names_are_refused_at_runtime(pool: SandboxPool, expression: str) -> None:
    source = handler(f"webhook.payload = {{'x': str({expression})}}")
    assert_blocked(pool, source, "AttributeError", 'names starting with "_" are private')


def test_webhook_fields_cannot_be_read_by_item(pool: SandboxPool) -> None:
    source = handler("webhook.payload = {'x': str(webhook['_fields'])}")
    assert_blocked(pool, source, "AttributeError", "webhook has no field '_fields'")


@pytest.mark.parametrize(
    "body, message",
    [
        pytest.param(
            "webhook.event_type = 'x'", "webhook.event_type is read-only", id="event_type"
        ),
        pytest.param("webhook.secret = 'x'", "webhook has no field 'secret'", id="new-field"),
        pytest.param("webhook['eventType'] = 'x'", "webhook.eventType is read-only", id="item"),
        pytest.param("del webhook.url", "webhook.url cannot be deleted", id="delete"),
    ],
)
def test_webhook_only_takes_its_writable_fields(pool: SandboxPool, body: str, message: str) -> None:
    assert_blocked(pool, handler(body), "AttributeError", message)


def test_type_of_an_object_is_out_of_reach(pool: SandboxPool) -> None:
    assert_blocked(pool, handler("x = type(webhook)"), "NameError", "name 'type'")


@pytest.mark.parametrize(
    "target, kind",
    [
        pytest.param("json", "Module", id="module-stand-in"),
        pytest.param("split_name", "function", id="helper"),
        pytest.param("len", "builtin_function_or_method", id="builtin"),
        pytest.param("(x for x in [1])", "generator", id="generator"),
        pytest.param("json.loads", "function", id="module-function"),
    ],
)
def test_attributes_of_modules_and_functions_are_refused(
    pool: SandboxPool, target: str, kind: str
) -> None:
    # Only listed names of a module stand-in; nothing at all of a function, a builtin or a
    # generator (their public attributes lead to code, frames or the real module).
    if kind == "Module":
        source = handler("import json\nx = json.codecs")
        assert_blocked(pool, source, "AttributeError", "module 'json' has no attribute 'codecs'")
        return
    source = handler(f"import json\nx = getattr({target}, 'anything')")
    assert_blocked(pool, source, "AttributeError", f"not allowed on a {kind} object")


def test_types_reached_through_mro_cannot_be_changed(pool: SandboxPool) -> None:
    source = handler("""
        import datetime
        top = datetime.datetime.mro()[-1]
        top.hacked = True
    """)
    assert_blocked(pool, source, "TypeError", "a type object cannot be changed")


def test_classes_of_the_handler_cannot_be_changed(pool: SandboxPool) -> None:
    # Writes go only to dicts, lists and the webhook; a class's own objects are read-only.
    source = handler("box = Box()\nbox.value = 1", prelude="class Box:\n    pass\n")
    assert_blocked(pool, source, "TypeError", "a Box object cannot be changed")


def test_setattr_is_not_a_builtin(pool: SandboxPool) -> None:
    source = handler("import json\nsetattr(json, 'dumps', len)")
    assert_blocked(pool, source, "NameError", "name 'setattr'")


def test_subscript_of_a_type_is_refused(pool: SandboxPool) -> None:
    # dict[str] builds a generic alias, whose attributes reach the real type again.
    source = handler("alias = str['x']")
    assert_blocked(pool, source, "TypeError", "a type object cannot be indexed")


def test_print_to_a_file_writes_nowhere_but_the_log(pool: SandboxPool) -> None:
    # print(file=...) is rewritten by RestrictedPython; paybridge's collector ignores `file`.
    source = handler("import json\nprint('x', file=json)\nraise ValueError(printed)")
    result = assert_blocked(pool, source, "ValueError", "x")
    assert result["logs"] == "x\n"
