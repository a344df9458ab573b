"""Reading JSON that came from outside: Dodo's events and API request bodies.

Python's `json` accepts more than JSON: `NaN` and `Infinity` (which no JSON answer can carry
back, RFC 8259 section 6), and nesting deep enough to exhaust the parser's stack. What is
read here is plain JSON of a bounded depth, or a `JSONRejected` that says what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

# Dodo's events nest five levels at most (event → data → customer → field); handlers' test
# events and API bodies need no more than a few more.
MAX_DEPTH = 32


class JSONRejected(ValueError):
    """The text is not JSON paybridge accepts; the message says why."""


def read_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    if isinstance(raw, bytes):
        try:
            # Strict UTF-8, decoded here: given bytes, `json.loads` would also take UTF-16 and
            # UTF-32, and raw-encoded surrogates.
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise JSONRejected("it is not UTF-8 text") from None
    else:
        text = raw
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise JSONRejected(f"it nests deeper than {max_depth} levels") from None
    except ValueError as error:  # JSONDecodeError, and integers of more than 4,300 digits
        raise JSONRejected(str(error)) from None
    # An escape can still make a lone UTF-16 surrogate ("\ud800"): a str that cannot be written
    # back out as UTF-8. Refused here, not met later when the event is stored or shown.
    if "\\u" in text or isinstance(raw, str):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise JSONRejected("it holds a lone UTF-16 surrogate, which is not text") from None
    # Nesting is never deeper than the number of brackets that open it: most events need no walk.
    if text.count("[") + text.count("{") <= max_depth:
        return value
    _check_depth(value, max_depth)
    return value


def _refuse_constant(name: str) -> Any:
    raise JSONRejected(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _check_depth(value: Any, max_depth: int) -> None:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise JSONRejected(f"it nests deeper than {max_depth} levels")
        pending.extend((child, depth + 1) for child in children)
