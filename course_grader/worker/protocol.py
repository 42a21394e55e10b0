"""Length-prefixed JSON frames between the grader and the worker, over two pipes.

A frame is 4 bytes (big-endian length) followed by that many bytes of UTF-8 JSON. Both
sides refuse frames over ``MAX_FRAME`` bytes. The worker side reads and writes blocking;
the grader side reads with a deadline (:class:`FrameReader`) and writes with one
(``write_frame(..., deadline=...)`` on a non-blocking pipe), so a silent or hung worker, or
one that stopped reading its pipe (or shrank it), costs a timeout, never a hang of the grader.
"""
from __future__ import annotations

import json
import os
import select
import struct
import time

__all__ = ["MAX_FRAME", "ProtocolError", "WriteTimeout", "write_frame", "read_frame", "FrameReader"]

MAX_FRAME = 96 * 2**20  # bytes of one frame (values of up to 64 MiB, base64-encoded, plus JSON)
_HEADER = struct.Struct(">I")


class ProtocolError(Exception):
    """The other side sent something that is not a frame (or the pipe closed)."""


class WriteTimeout(Exception):
    """The other side did not take a frame before the deadline (it stopped reading its pipe)."""


def write_frame(fd: int, message: dict, deadline: float | None = None) -> None:
    """Write one frame; with a ``deadline`` (``time.monotonic()``), ``fd`` must be non-blocking and
    :class:`WriteTimeout` is raised when the other side has not taken it all by then."""
    data = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8")
    if len(data) > MAX_FRAME:
        raise ProtocolError(f"a message of {len(data):,} bytes is over the limit of {MAX_FRAME:,}")
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WriteTimeout
            if not select.select([], [fd], [], min(left, 1.0))[1]:
                continue
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            continue
        view = view[n:]


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise ProtocolError("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _parse(data: bytes) -> dict:
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # RecursionError: [[[[...]]]] nested too deep
        raise ProtocolError(f"not a JSON frame ({type(e).__name__})") from None
    if not isinstance(message, dict):
        raise ProtocolError("a frame must hold a JSON object")
    return message


def read_frame(fd: int) -> dict:
    """Read one frame, blocking (the worker's side)."""
    (length,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    if length > MAX_FRAME:
        raise ProtocolError(f"a frame of {length:,} bytes is over the limit of {MAX_FRAME:,}")
    return _parse(_read_exactly(fd, length))


class FrameReader:
    """Read frames from a pipe with a deadline (the grader's side)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buffer = bytearray()
        os.set_blocking(fd, False)

    def read(self, deadline: float) -> dict | None:
        """The next frame, or None when ``deadline`` (a ``time.monotonic()`` value) passes first.

        Raises ProtocolError when the pipe closes or a frame is malformed or too large.
        """
        while True:
            if len(self.buffer) >= _HEADER.size:
                (length,) = _HEADER.unpack_from(self.buffer)
                if length > MAX_FRAME:
                    raise ProtocolError(f"a frame of {length:,} bytes is over the limit of {MAX_FRAME:,}")
                if len(self.buffer) >= _HEADER.size + length:
                    data = bytes(self.buffer[_HEADER.size:_HEADER.size + length])
                    del self.buffer[:_HEADER.size + length]
                    return _parse(data)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise ProtocolError("the pipe closed")
            self.buffer += chunk
