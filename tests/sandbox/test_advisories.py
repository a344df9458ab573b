"""RestrictedPython's advisory history, one attack each (shared reference, sandbox notes A2).

Each source below is the payload idea of an advisory, aimed at paybridge's policy. The expected
message names the guard that stops it, so the test fails if that guard is taken away even where
a deeper layer would still hold.
"""

from __future__ import annotations

import pytest

from sandbox import SandboxPool

from .support import assert_blocked, handler

RESTRICTED = r'"{}" is a restricted name'
SYNTAX = "SyntaxError"

# CVE-2023-37271: walk out of the restricted frames from a generator, coroutine or traceback.
FRAME_WALKS = [
    pytest.param(
        handler("""
            frames = (x for x in [1])
            webhook.payload = {"g": str(frames.gi_frame)}
        """),
        RESTRICTED.format("gi_frame"),
        id="genexp-gi_frame",
    ),
    pytest.param(
        handler(
            """
            running = numbers()
            webhook.payload = {"b": str(running.gi_frame)}
            """,
            prelude="def numbers():\n    yield 1\n",
        ),
        RESTRICTED.format("gi_frame"),
        id="generator-gi_frame",
    ),
    pytest.param(
        handler("""
            frames = (x for x in [1])
            webhook.payload = {"c": str(frames.gi_code)}
        """),
        RESTRICTED.format("gi_code"),
        id="generator-gi_code",
    ),
    pytest.param(
        handler("""
            try:
                1 / 0
            except ZeroDivisionError as error:
                frame = error.tb_frame
        """),
        RESTRICTED.format("tb_frame"),
        id="traceback-tb_frame",
    ),
    pytest.param(
        handler("""
            try:
                1 / 0
            except ZeroDivisionError as error:
                frame = error.__traceback__
        """),
        r'"__traceback__" is an invalid attribute name',
        id="exception-__traceback__",
    ),
    pytest.param(
        handler("frame = webhook.cr_frame"), RESTRICTED.format("cr_frame"), id="coroutine-cr_frame"
    ),
    pytest.param(
        handler("frame = webhook.ag_frame"), RESTRICTED.format("ag_frame"), id="asyncgen-ag_frame"
    ),
    pytest.param(
        handler("return webhook", prelude="async def walk():\n    pass\n"),
        "AsyncFunctionDef statements are not allowed",
        id="async-def",
    ),
]


@pytest.mark.parametrize("source, message", FRAME_WALKS)
def test_frame_attributes_are_refused_at_compile_time(
    pool: SandboxPool, source: str, message: str
) -> None:
    assert_blocked(pool, source, SYNTAX, message)


# RestrictedPython 7.3: the same attributes asked for at runtime, where no compiler sees them.
RUNTIME_FRAME_NAMES = ["gi_frame", "gi_code", "f_back", "f_globals", "tb_frame", "cr_frame"]


@pytest.mark.parametrize("name", RUNTIME_FRAME_NAMES)
def test_frame_attributes_are_refused_by_runtime_getattr(pool: SandboxPool, name: str) -> None:
    source = handler(f"""
        frames = (x for x in [1])
        name = "{name[:2]}" + "{name[2:]}"
        webhook.payload = {{"x": str(getattr(frames, name))}}
    """)
    assert_blocked(pool, source, "AttributeError", rf'"{name}" is not allowed in a handler')


def test_frame_attribute_on_an_object_that_has_one_is_refused(pool: SandboxPool) -> None:
    # A class of the handler's own may carry an attribute called gi_frame; getattr still refuses
    # the name itself, so no object can hand out something under that name.
    source = handler(
        """
        value = getattr(Holder(), "gi_" + "frame")
        webhook.payload = {"x": value}
        """,
        prelude="class Holder:\n    gi_frame = 1\n",
    )
    assert_blocked(pool, source, "AttributeError", r'"gi_frame" is not allowed in a handler')


# CVE-2023-41039: format strings traverse attributes in C, out of the guards' sight.
FORMAT_STRINGS = [
    pytest.param(handler('leak = "{0.__class__.__mro__}".format(webhook)'), id="str.format"),
    pytest.param(handler('leak = str.format("{0.__class__}", webhook)'), id="str.format-unbound"),
    pytest.param(handler('leak = "{a.__class__}".format_map({"a": webhook})'), id="str.format_map"),
    pytest.param(
        handler(
            'leak = Text("{0.__class__}").format(webhook)', prelude="class Text(str):\n    pass\n"
        ),
        id="str-subclass.format",
    ),
    pytest.param(
        handler('leak = getattr("{0.__class__}", "for" + "mat")(webhook)'), id="getattr-format"
    ),
]


@pytest.mark.parametrize("source", FORMAT_STRINGS)
def test_format_string_traversal_is_refused(pool: SandboxPool, source: str) -> None:
    assert_blocked(pool, source, "AttributeError", r"str\.format(_map)?\(\) is not allowed")


# RestrictedPython 7.2: a str subclass as attribute name, whose startswith() always says no,
# walked `__class__` → `object` → `__subclasses__()` → BuiltinImporter → `os`.
STR_SUBCLASS = """
class Name(str):
    def startswith(self, prefix):
        return False
"""
STR_SUBCLASS_NAMES = [
    pytest.param(
        handler(
            """
            top = getattr(webhook, Name("__class__")).mro()[-1]
            classes = getattr(top, Name("__subclasses__"))()
            for cls in classes:
                if getattr(cls, Name("__name__")) == "BuiltinImporter":
                    os = cls.load_module("os")
                    webhook.payload = {"env": str(os.environ)}
            """,
            prelude=STR_SUBCLASS,
        ),
        id="getattr-walk-to-os",
    ),
    pytest.param(
        handler('found = hasattr(webhook, Name("__class__"))', prelude=STR_SUBCLASS),
        id="hasattr",
    ),
]


@pytest.mark.parametrize("source", STR_SUBCLASS_NAMES)
def test_str_subclass_attribute_names_are_refused(pool: SandboxPool, source: str) -> None:
    assert_blocked(pool, source, "TypeError", "attribute names must be plain str")


def test_str_subclass_keyword_names_are_refused(pool: SandboxPool) -> None:
    source = handler(
        """
        options = {Name("_private"): 1}
        webhook.payload = dict(**options)
        """,
        prelude=STR_SUBCLASS,
    )
    assert_blocked(pool, source, "TypeError", r"keyword argument .* is not allowed")


# CVE-2024-47532: an AttributeError raised inside a module stand-in carried the real module in
# `.obj`; from the real `string` module, Formatter().get_field reached anything.
def test_exception_obj_is_refused(pool: SandboxPool) -> None:
    source = handler("""
        import json
        try:
            json.no_such_name
        except AttributeError as error:
            webhook.payload = {"leaked": str(error.obj)}
    """)
    assert_blocked(pool, source, "AttributeError", r'"obj" is not allowed on exceptions')


def test_exception_with_traceback_is_refused(pool: SandboxPool) -> None:
    source = handler("""
        try:
            1 / 0
        except ZeroDivisionError as error:
            error.with_traceback(None)
    """)
    assert_blocked(pool, source, "AttributeError", r'"with_traceback" is not allowed')


# CVE-2025-22153: try/except* with a crafted exception group confused CPython 3.11's types.
def test_try_star_is_refused(pool: SandboxPool) -> None:
    source = handler("""
        try:
            raise ValueError("x")
        except* ValueError:
            pass
    """)
    assert_blocked(pool, source, SYNTAX, "TryStar statements are not allowed")


@pytest.mark.parametrize("name", ["ExceptionGroup", "BaseExceptionGroup"])
def test_exception_groups_are_not_builtins(pool: SandboxPool, name: str) -> None:
    source = handler(f'raise {name}("x", [ValueError("y")])')
    assert_blocked(pool, source, "NameError", rf"name '{name}' is not defined")


# CVE-2026-55830: a positional-only parameter named after a guard hook shadowed the hook in
# that function. With `_write_` shadowed by `lambda obj: obj`, a shared class could be changed.
GUARD_HOOKS = [
    "_getattr_",
    "_getitem_",
    "_getiter_",
    "_write_",
    "_print_",
    "_inplacevar_",
    "_apply_",
    "_unpack_sequence_",
]


@pytest.mark.parametrize("hook", GUARD_HOOKS)
def test_positional_only_parameter_cannot_shadow_a_guard(pool: SandboxPool, hook: str) -> None:
    source = handler(
        "webhook.payload = {'x': shadow()}",
        prelude=f"def shadow({hook}=lambda *args: args[0], /):\n    return 1\n",
    )
    assert_blocked(pool, source, SYNTAX, rf'"{hook}" is an invalid variable name')


def test_shadowed_write_guard_cannot_poison_a_shared_class(pool: SandboxPool) -> None:
    source = handler(
        "poison()",
        prelude=(
            "import json\n"
            "def poison(_write_=lambda obj: obj, /):\n"
            "    json.JSONDecodeError.poisoned = True\n"
        ),
    )
    assert_blocked(pool, source, SYNTAX, r'"_write_" is an invalid variable name')


def test_lambda_positional_only_parameter_cannot_shadow_a_guard(pool: SandboxPool) -> None:
    source = handler("webhook.payload = {'x': reach(webhook)}", prelude=(
        "reach = lambda obj, _getattr_=lambda o, n: 1, /: obj.url\n"
    ))  # fmt: skip
    assert_blocked(pool, source, SYNTAX, r'"_getattr_" is an invalid variable name')


# CVE-2026-76825: string.Formatter().get_field resolves "0.__globals__[__builtins__]" in C.
FORMATTER_ROUTES = [
    pytest.param(
        handler("import string"),
        "ImportError",
        "import of 'string' is not allowed",
        id="import-string",
    ),
    pytest.param(
        handler("from string import Formatter"),
        "ImportError",
        "import of 'string' is not allowed",
        id="from-string-import-Formatter",
    ),
    pytest.param(
        handler("import _string"),
        SYNTAX,
        '"_string" is an invalid variable name',
        id="import-_string",
    ),
]


@pytest.mark.parametrize("source, kind, message", FORMATTER_ROUTES)
def test_formatter_is_unreachable(pool: SandboxPool, source: str, kind: str, message: str) -> None:
    assert_blocked(pool, source, kind, message)


def test_formatter_get_field_spelled_at_runtime_is_refused(pool: SandboxPool) -> None:
    # No Formatter is reachable; the same traversal through str's own format is refused too.
    source = handler("""
        field = "0." + chr(95) * 2 + "class" + chr(95) * 2
        leak = getattr("{" + field + "}", "format")(webhook)
    """)
    assert_blocked(pool, source, "AttributeError", r"str\.format\(\) is not allowed")


# RestrictedPython 9.0 (issue #335): builtins that iterate their argument in C skip _getiter_.
# A regular expression's groupindex is a mappingproxy, a type the iteration guard refuses.
C_ITERATORS = [
    "sorted(proxy)",
    "tuple(proxy)",
    "list(proxy)",
    "set(proxy)",
    "frozenset(proxy)",
    "sum(proxy)",
    "min(proxy)",
    "max(proxy)",
    "any(proxy)",
    "all(proxy)",
    "enumerate(proxy)",
    "zip(proxy)",
    "map(str, proxy)",
    "filter(None, proxy)",
    "dict(proxy)",
    "reversed(proxy)",
    "iter(proxy)",
    "[key for key in proxy]",
]


@pytest.mark.parametrize("expression", C_ITERATORS)
def test_builtins_iterate_through_the_guard(pool: SandboxPool, expression: str) -> None:
    source = handler(f"""
        import re
        proxy = re.compile("(?P<group>x)").groupindex
        webhook.payload = {{"x": str({expression})}}
    """)
    assert_blocked(pool, source, "TypeError", "a mappingproxy object cannot be iterated")


@pytest.mark.parametrize("name", ["bytes", "type", "vars", "dir", "globals", "locals", "open"])
def test_unsafe_builtins_are_absent(pool: SandboxPool, name: str) -> None:
    assert_blocked(pool, handler(f"x = {name}(webhook)"), "NameError", rf"name '{name}'")


# Issue #142 (2018): getattr-built strings walked to __subclasses__ and os.popen.
def test_getattr_walk_to_subclasses_is_refused(pool: SandboxPool) -> None:
    source = handler("""
        cls = getattr(getattr([], "__class__"), "__base__")
        classes = getattr(cls, "__subclasses__")()
    """)
    assert_blocked(pool, source, "AttributeError", r'"__class__" is not allowed')
