"""The sandbox policy: the builtins, guards and importable modules a handler can reach.

RestrictedPython rewrites attribute, item, iteration, write, unpacking and print operations
into calls of the `_..._` hooks below; everything a handler touches passes through them. The
rules follow RestrictedPython's advisories (../shared/reference/sandbox-and-queue.md, A2):
no `_` names, no frame or code attributes, no str.format, no module objects, writes only to
plain dicts, lists and the webhook, and an explicit copy of a small set of builtins.
"""

from __future__ import annotations

import _strptime  # type: ignore[import-not-found]  # datetime.strptime imports it from C
import datetime
import decimal
import json
import math
import operator
import random
import re
import types
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.Guards import safe_builtins as _restricted_safe_builtins
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from .webhook import Webhook

MAX_REGEX_INPUT_CHARS = 100_000

_NO_ATTRIBUTES = (
    types.ModuleType,
    types.FrameType,
    types.CodeType,
    types.TracebackType,
    types.FunctionType,
    types.LambdaType,
    types.MethodType,
    types.BuiltinFunctionType,
    types.BuiltinMethodType,
    types.GeneratorType,
    types.CoroutineType,
    types.AsyncGeneratorType,
    types.CellType,
    types.MappingProxyType,
)
_STR_FORMATTERS = frozenset({"format", "format_map"})
# AttributeError.obj and NameError.name were the way the real `string` module leaked out
# of RestrictedPython's delegator (CVE-2024-47532).
_EXCEPTION_ATTRIBUTES = frozenset({"obj", "with_traceback"})


class SandboxTimeout(BaseException):  # noqa: N818 - read by handlers as a timeout, not an error
    """Raised inside a run when its time is up."""


def readable(text: str) -> str:
    """`text` as valid Unicode: a lone UTF-16 surrogate a handler printed or raised becomes
    U+FFFD, so that what is shown and stored of the run can be written out as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)
    return text


class OutputLimit:
    """What a run has printed, kept up to a byte limit."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def write(self, text: str) -> None:
        if self.truncated:
            return
        room = self.limit_bytes - self.size
        encoded = readable(text).encode("utf-8")
        if len(encoded) > room:
            encoded = encoded[:room]
            self.truncated = True
        self.parts.append(encoded.decode("utf-8", "ignore"))
        self.size += len(encoded)

    def text(self) -> str:
        suffix = f"\n[output cut at {self.limit_bytes} bytes]" if self.truncated else ""
        return "".join(self.parts) + suffix


class ClassTracker:
    """The metaclass of a run's `class` statements: it builds the class with `type` and holds
    it weakly, so that the run can tell afterwards whether any of its classes outlived it.

    A class that outlives its run sits in a cache of the process (`re`'s compiled patterns are
    keyed by the pattern's type, `_strptime`'s by the format itself), and whatever the class
    holds, a generator whose `finally` loops say, would be freed, and run, in a later run of
    another integration.
    """

    def __init__(self) -> None:
        self.classes: weakref.WeakSet[type] = weakref.WeakSet()

    def __call__(self, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
        cls = type(name, bases, namespace)
        self.classes.add(cls)
        return cls


def purge_caches() -> None:
    """Empty the process's caches that can hold a handler's objects (see ClassTracker)."""
    re.purge()
    _strptime._regex_cache.clear()


def make_globals(
    output: OutputLimit,
    helpers: dict[str, Callable[..., Any]],
    seed: int,
    classes: ClassTracker,
) -> dict[str, Any]:
    """Fresh globals for one run: nothing in them survives into the next run."""
    builtins = dict(BUILTINS)
    builtins["__import__"] = _importer(seed)
    glb: dict[str, Any] = {
        "__builtins__": builtins,
        "__name__": "handler",
        "__metaclass__": classes,
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": guarded_iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": guarded_write,
        "_inplacevar_": guarded_inplacevar,
        "_apply_": guarded_apply,
        "_print_": _printer(output),
    }
    glb.update(helpers)
    return glb


# -- guards -------------------------------------------------------------------------------------

_MISSING = object()


def guarded_getattr(obj: Any, name: Any, default: Any = _MISSING) -> Any:
    if type(name) is not str:
        raise TypeError("attribute names must be plain str")
    if name.startswith("_"):
        raise AttributeError(f'"{name}" is not allowed: names starting with "_" are private')
    if name in INSPECT_ATTRIBUTES:
        raise AttributeError(f'"{name}" is not allowed in a handler')
    if isinstance(obj, _NO_ATTRIBUTES):
        raise AttributeError(f'"{name}" is not allowed on a {type(obj).__name__} object')
    if name in _STR_FORMATTERS and _is_str(obj):
        raise AttributeError(f"str.{name}() is not allowed; use an f-string or % instead")
    if name in _EXCEPTION_ATTRIBUTES and isinstance(obj, BaseException):
        raise AttributeError(f'"{name}" is not allowed on exceptions')
    if default is _MISSING:
        return getattr(obj, name)
    return getattr(obj, name, default)


def guarded_hasattr(obj: Any, name: Any) -> bool:
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


def guarded_getitem(obj: Any, key: Any) -> Any:
    if isinstance(obj, type) or isinstance(obj, _NO_ATTRIBUTES):
        raise TypeError(f"a {type(obj).__name__} object cannot be indexed in a handler")
    return obj[key]


def guarded_iter(obj: Any) -> Iterator[Any]:
    if isinstance(obj, _NO_ATTRIBUTES) and not isinstance(obj, types.GeneratorType):
        raise TypeError(f"a {type(obj).__name__} object cannot be iterated in a handler")
    return iter(obj)


def guarded_write(obj: Any) -> Any:
    if type(obj) in (dict, list) or isinstance(obj, Webhook):
        return obj
    raise TypeError(f"a {type(obj).__name__} object cannot be changed in a handler")


def guarded_apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    for key in kwargs:
        if type(key) is not str or key.startswith("_"):
            raise TypeError(f"keyword argument {key!r} is not allowed")
    return func(*args, **kwargs)


_INPLACE = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
}
_INPLACE_TYPES = (int, float, complex, str, bool, list, dict, set, decimal.Decimal, tuple)


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    if op not in _INPLACE:
        raise TypeError(f"{op} is not allowed in a handler")
    if not isinstance(target, _INPLACE_TYPES):
        raise TypeError(f"{op} is not allowed on a {type(target).__name__} object")
    return _INPLACE[op](target, value)


def _is_str(obj: Any) -> bool:
    return isinstance(obj, str) or (isinstance(obj, type) and issubclass(obj, str))


def _printer(output: OutputLimit) -> Callable[..., Any]:
    class Printer:
        """RestrictedPython's print hook: every print of a run goes to one bounded buffer."""

        def __init__(self, _getattr_: Any = None) -> None:
            pass

        def _call_print(self, *objects: Any, **kwargs: Any) -> None:
            sep = kwargs.get("sep")
            end = kwargs.get("end")
            sep = " " if sep is None else str(sep)
            end = "\n" if end is None else str(end)
            output.write(sep.join(str(obj) for obj in objects) + end)

        def __call__(self) -> str:
            return output.text()

    return Printer


# -- builtins -----------------------------------------------------------------------------------


def _through_guard(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a builtin that would iterate its argument in C, so it iterates through the guard.

    RestrictedPython 9.0 took `tuple`, `sorted` and `zip` out of its safe builtins for this
    reason (issue #335): C iteration skips `_getiter_`.
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if args:
            args = (_GuardedIterable(args[0]),) + args[1:]
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    return wrapper


class _GuardedIterable:
    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __iter__(self) -> Iterator[Any]:
        return guarded_iter(self.obj)


def _zip(*iterables: Iterable[Any], strict: bool = False) -> Any:
    return zip(*(_GuardedIterable(it) for it in iterables), strict=strict)


def _map(func: Callable[..., Any], *iterables: Iterable[Any]) -> Any:
    return map(func, *(_GuardedIterable(it) for it in iterables))


def _dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    if args and not isinstance(args[0], dict):
        return dict(_GuardedIterable(args[0]), **kwargs)
    return dict(*args, **kwargs)


def _filter(func: Callable[..., Any] | None, iterable: Iterable[Any]) -> Any:
    return filter(func, _GuardedIterable(iterable))


def _reversed(sequence: Any) -> Any:
    # reversed() reads a sequence from its end, so it cannot go through _GuardedIterable; the
    # same type check as the iteration guard keeps it off frames, modules and mapping proxies.
    guarded_iter(sequence)
    return reversed(sequence)


def _min_max(func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1:
            return func(_GuardedIterable(args[0]), **kwargs)
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    return wrapper


# The types whose builtin name is a guarded wrapper, so `isinstance(x, list)` still works.
_WRAPPED_TYPES: dict[Callable[..., Any], type] = {}


def _real_types(classinfo: Any) -> Any:
    if isinstance(classinfo, tuple):
        return tuple(_real_types(item) for item in classinfo)
    if callable(classinfo) and not isinstance(classinfo, type):
        return _WRAPPED_TYPES.get(classinfo, classinfo)
    return classinfo


def guarded_isinstance(obj: Any, classinfo: Any) -> bool:
    return isinstance(obj, _real_types(classinfo))


def guarded_issubclass(cls: Any, classinfo: Any) -> bool:
    return issubclass(cls, _real_types(classinfo))


def _builtins() -> dict[str, Any]:
    builtins = dict(_restricted_safe_builtins)
    for name in ("setattr", "delattr", "_getattr_"):
        builtins.pop(name, None)
    for func in (list, tuple, set, frozenset, sorted, sum, enumerate, any, all):
        builtins[func.__name__] = _through_guard(func)
    builtins.update(
        {
            "dict": _dict,
            "zip": _zip,
            "map": _map,
            "filter": _filter,
            "reversed": _reversed,
            "min": _min_max(min),
            "max": _min_max(max),
            "iter": guarded_iter,
            "next": next,
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "isinstance": guarded_isinstance,
            "issubclass": guarded_issubclass,
        }
    )
    for real in (list, tuple, set, frozenset, dict):
        _WRAPPED_TYPES[builtins[real.__name__]] = real
    return builtins


BUILTINS = _builtins()


# -- importable modules -------------------------------------------------------------------------


class Module:
    """A vetted stand-in for a module: only the names listed, never the module itself."""

    __slots__ = ("_name", "_names")

    def __init__(self, name: str, names: dict[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_names", dict(names))

    def __getattr__(self, attr: str) -> Any:
        try:
            return self._names[attr]
        except KeyError:
            raise AttributeError(f"module {self._name!r} has no attribute {attr!r}") from None

    def __setattr__(self, attr: str, value: Any) -> None:
        raise TypeError(f"module {self._name!r} cannot be changed")

    def __repr__(self) -> str:
        return f"<module {self._name!r} (sandboxed)>"


def _pick(module: Any, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names}


def _regex_input(text: Any) -> Any:
    if isinstance(text, str) and len(text) > MAX_REGEX_INPUT_CHARS:
        raise ValueError(f"regular expressions take at most {MAX_REGEX_INPUT_CHARS} characters")
    return text


def _regex(func: Callable[..., Any], text_position: int) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        args = tuple(_exact_text(arg) for arg in args)
        kwargs = {name: _exact_text(value) for name, value in kwargs.items()}
        if len(args) > text_position:
            _regex_input(args[text_position])
        _regex_input(args[0] if args else None)
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    return wrapper


def _exact_text(value: Any) -> Any:
    """A str or bytes subclass as a plain str or bytes. `re` is partly Python: it calls methods
    on the objects it is given (`re.escape` calls `pattern.translate(<re's own table>)`), and
    a handler's subclass would run its own code there, with `re`'s module state in hand."""
    if isinstance(value, str) and type(value) is not str:
        return str.__str__(value)
    if isinstance(value, bytes) and type(value) is not bytes:
        return bytes.__bytes__(value)
    return value


def _re_module() -> Module:
    names = {
        name: _regex(getattr(re, name), 1)
        for name in ("search", "match", "fullmatch", "findall", "finditer", "split")
    }
    names.update({name: _regex(getattr(re, name), 2) for name in ("sub", "subn")})
    names["compile"] = _regex(re.compile, 0)
    names["escape"] = _regex(re.escape, 0)
    names.update(_pick(re, ("IGNORECASE", "I", "MULTILINE", "M", "DOTALL", "S", "ASCII", "A")))
    names["error"] = re.error
    return Module("re", names)


def _random_module(seed: int) -> Module:
    rng = random.Random(seed)
    names = _pick(rng, ("random", "randint", "randrange", "choice", "uniform", "sample"))
    names["shuffle"] = rng.shuffle
    return Module("random", names)


def _shared_modules() -> dict[str, Module]:
    math_names = [name for name in dir(math) if not name.startswith("_")]
    return {
        "json": Module("json", _pick(json, ("loads", "dumps", "JSONDecodeError"))),
        "math": Module("math", _pick(math, math_names)),
        "re": _re_module(),
        "datetime": Module(
            "datetime",
            _pick(datetime, ("datetime", "date", "time", "timedelta", "timezone", "UTC")),
        ),
        "decimal": Module(
            "decimal",
            _pick(
                decimal,
                (
                    "Decimal",
                    "InvalidOperation",
                    "ROUND_HALF_UP",
                    "ROUND_HALF_EVEN",
                    "ROUND_DOWN",
                    "ROUND_UP",
                    "ROUND_FLOOR",
                    "ROUND_CEILING",
                ),
            ),
        ),
    }


_SHARED_MODULES = _shared_modules()
IMPORTABLE = tuple(sorted([*_SHARED_MODULES, "random"]))
# Modules that datetime's C code imports for itself (strftime needs `time`, strptime needs
# `_strptime`). CPython's PyImport_Import calls the `__import__` of the calling frame's
# builtins, which inside a handler is the one below, with an empty *list* as fromlist; an
# import statement passes None or a tuple. Both modules are loaded already, and
# PyImport_Import takes them from sys.modules, so the handler is given nothing.
_C_IMPORTS = frozenset({"time", "_strptime"})


def _importer(seed: int) -> Callable[..., Module | None]:
    """`import` for one run: the shared facades, and a `random` of this run's own."""
    own_random: list[Module] = []

    def guarded_import(
        name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0
    ) -> Module | None:
        if level == 0 and name in _SHARED_MODULES:
            return _SHARED_MODULES[name]
        if level == 0 and name == "random":
            if not own_random:
                own_random.append(_random_module(seed))
            return own_random[0]
        if type(fromlist) is list and not fromlist and name in _C_IMPORTS:
            return None
        if level != 0:
            raise ImportError("relative imports are not allowed in a handler")
        allowed = ", ".join(IMPORTABLE)
        raise ImportError(f"import of {name!r} is not allowed; a handler may import {allowed}")

    return guarded_import
