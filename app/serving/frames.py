"""The framing between the API and its inference process: a JSON header and raw bytes, length-prefixed.

A frame is `<total length: u32><header length: u32><header: JSON><payload>`, little-endian. Tensors travel as
their raw bytes in the payload, described by the header (never pickled: the two processes trust each other, but
nothing read from a socket is unpickled here either).
"""

from __future__ import annotations

import json
import socket
import struct

PREFIX = struct.Struct("<II")


def encode(header: dict, payload: bytes | bytearray | memoryview = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    return PREFIX.pack(PREFIX.size - 4 + len(head) + len(payload), len(head)) + head + bytes(payload)


def decode(frame: memoryview) -> tuple[dict, memoryview]:
    """One frame without its total-length word -> (header, payload)."""
    (head_length,) = struct.unpack_from("<I", frame)
    return json.loads(bytes(frame[4 : 4 + head_length])), frame[4 + head_length :]


class FrameBuffer:
    """Bytes as they arrive -> whole frames (without their total-length word)."""

    def __init__(self) -> None:
        self._data = bytearray()

    def feed(self, chunk: bytes) -> list[memoryview]:
        self._data += chunk
        frames, start, data = [], 0, self._data
        while len(data) - start >= 4:
            (length,) = struct.unpack_from("<I", data, start)
            if len(data) - start - 4 < length:
                break
            frames.append(memoryview(bytes(data[start + 4 : start + 4 + length])))
            start += 4 + length
        if start:
            del self._data[:start]
        return frames


def read_frame(sock: socket.socket) -> memoryview | None:
    """Blocking: the next whole frame, or None at the end of the stream."""
    length_bytes = _read_exactly(sock, 4)
    if length_bytes is None:
        return None
    (length,) = struct.unpack("<I", length_bytes)
    body = _read_exactly(sock, length)
    if body is None:
        return None
    return memoryview(body)


def _read_exactly(sock: socket.socket, n: int) -> bytearray | None:
    buffer = bytearray(n)
    view, got = memoryview(buffer), 0
    while got < n:
        count = sock.recv_into(view[got:])
        if count == 0:
            return None
        got += count
    return buffer
