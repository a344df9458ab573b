"""Run untrusted `handler(webhook)` code: compile it under a policy, run it in a confined process.

This package does no I/O of paybridge's own and knows nothing of HubSpot, Redis or HTTP.
"""

from .compiler import check_handler, compile_handler
from .errors import HandlerCompileError, SandboxError, SandboxUnavailable, compile_error
from .limits import ALLOWED_METHODS, RESERVED_HEADERS, Limits
from .pool import SandboxPool, handler_key
from .request import RequestRejected, check_request

__all__ = [
    "ALLOWED_METHODS",
    "RESERVED_HEADERS",
    "HandlerCompileError",
    "Limits",
    "RequestRejected",
    "SandboxError",
    "SandboxPool",
    "SandboxUnavailable",
    "check_handler",
    "check_request",
    "compile_error",
    "compile_handler",
    "handler_key",
]
