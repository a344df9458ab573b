"""The limits every handler run is held to, with their defaults."""

from __future__ import annotations

import dataclasses

DEFAULT_TIMEOUT_MS = 1000
DEFAULT_MEMORY_MB = 128
DEFAULT_CODE_BYTES = 64 * 1024
DEFAULT_BODY_BYTES = 1024 * 1024
DEFAULT_OUTPUT_BYTES = 4 * 1024
DEFAULT_AST_NODES = 20_000
# How deeply the syntax tree may nest. The compiler's checks recurse once per level (about four
# frames each), and a sandbox process runs with a small recursion limit; 64 levels leaves room
# for an if/elif chain over every Dodo event type (depth grows by one per elif).
DEFAULT_AST_DEPTH = 64
# How long past the time limit the parent waits before it kills the process: the child's own
# timer fires first and reports the line; this covers a handler that swallows that timer.
KILL_GRACE_MS = 250
ALLOWED_METHODS = ("POST", "PATCH", "PUT", "DELETE", "GET")
RESERVED_HEADERS = ("authorization", "host", "content-length")
# How the request is framed and carried is paybridge's: a handler that set these could make
# the HTTP client refuse the request, or smuggle a second one inside it.
FRAMING_HEADERS = (
    "connection", "expect", "keep-alive", "proxy-authorization", "proxy-connection", "te",
    "trailer", "transfer-encoding", "upgrade",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Limits:
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    memory_mb: int = DEFAULT_MEMORY_MB
    code_bytes: int = DEFAULT_CODE_BYTES
    body_bytes: int = DEFAULT_BODY_BYTES
    output_bytes: int = DEFAULT_OUTPUT_BYTES
    ast_nodes: int = DEFAULT_AST_NODES
    ast_depth: int = DEFAULT_AST_DEPTH

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, int]) -> Limits:
        return cls(**data)
