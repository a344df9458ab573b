"""Frames on the pipe between paybridge and a sandbox process: a 4-byte length, then JSON."""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 8 * 1024 * 1024
READ_CHUNK_BYTES = 256 * 1024


class ChannelClosed(Exception):
    """The other side closed its end of the pipe (it exited, or was killed)."""


class ChannelTimeout(Exception):
    """No complete frame arrived before the deadline."""


def write_frame(fd: int, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_frame(fd: int, deadline: float | None = None) -> dict[str, Any]:
    """Read one frame. Only one frame is ever in flight per pipe, so reading ahead is safe."""
    buffer = bytearray()
    size = None
    while size is None or len(buffer) < HEADER.size + size:
        _wait_readable(fd, deadline)
        chunk = os.read(fd, READ_CHUNK_BYTES)
        if not chunk:
            raise ChannelClosed("end of pipe")
        buffer += chunk
        if size is None and len(buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer)
            if size > MAX_FRAME_BYTES:
                raise ChannelClosed(f"frame of {size} bytes is over the limit")
    return json.loads(buffer[HEADER.size :])


def _wait_readable(fd: int, deadline: float | None) -> None:
    if deadline is None:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
        raise ChannelTimeout()
