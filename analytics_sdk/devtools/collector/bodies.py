"""Reading request bodies with bounded memory: Content-Length, chunked, gzip.

Nothing is read or inflated past the limit: a body announced as too large is
refused before a byte of it is read, and a gzip bomb stops inflating at the limit.
"""

from __future__ import annotations

import zlib
from io import BufferedIOBase
from typing import List

from .formats import Headers, RequestError

__all__ = ["read_body", "inflate", "TooLarge"]

_READ_CHUNK = 64 * 1024
_MAX_LINE = 1024  # chunk-size and trailer lines


class TooLarge(RequestError):
    """413; the rest of the body was not read, so the connection must be closed."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit:,} bytes")


def read_body(rfile: BufferedIOBase, headers: Headers, limit: int) -> bytes:
    """The raw body as sent; RequestError for malformed framing, TooLarge above ``limit``."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return _read_chunked(rfile, limit)
    text = headers.get("Content-Length")
    if text is None:
        return b""
    if not text.strip().isdigit():  # "-1" and "abc" alike: never read "until EOF"
        raise RequestError(400, f"Content-Length must be a non-negative integer, got {text!r}")
    length = int(text)
    if length > limit:
        raise TooLarge(limit)
    data = rfile.read(length)
    if len(data) < length:
        raise RequestError(400, "body shorter than Content-Length")
    return data


def _read_chunked(rfile: BufferedIOBase, limit: int) -> bytes:
    parts: List[bytes] = []
    total = 0
    while True:
        line = rfile.readline(_MAX_LINE)
        if not line.endswith(b"\n"):
            raise RequestError(400, "malformed chunked body")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise RequestError(400, "malformed chunk size") from None
        if size < 0:
            raise RequestError(400, "malformed chunk size")
        if size == 0:
            break
        total += size
        if total > limit:
            raise TooLarge(limit)
        chunk = rfile.read(size)
        if len(chunk) < size or rfile.readline(_MAX_LINE).strip():
            raise RequestError(400, "malformed chunked body")
        parts.append(chunk)
    while rfile.readline(_MAX_LINE).strip():  # trailers, ignored
        pass
    return b"".join(parts)


def inflate(data: bytes, limit: int) -> bytes:
    """Decompress gzip (one or more members) without producing more than ``limit`` bytes."""
    out: List[bytes] = []
    produced = 0
    pending = data
    while pending:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while pending:
            try:
                piece = inflater.decompress(pending, limit + 1 - produced)
            except zlib.error:
                raise RequestError(400, "body is not valid gzip") from None
            produced += len(piece)
            out.append(piece)
            if produced > limit:
                raise TooLarge(limit)
            pending = inflater.unconsumed_tail
            if inflater.eof or not piece and not pending:
                break
        if not inflater.eof:
            raise RequestError(400, "body is not valid gzip (truncated)")
        pending = inflater.unused_data
    return b"".join(out)
