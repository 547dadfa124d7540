"""Raw RESP over a socket: pipelined SETs and PINGs without redis-py's per-command overhead.

The fill and the write load send tens of thousands of SETs a second from one Python process; building the
RESP bytes directly and counting reply lines is several times faster than a redis-py pipeline. Every reply
to SET and PING is one line (``+OK``, ``+PONG`` or ``-ERR ...``), so reading N replies is reading N lines (the
typed writes' bulk replies, ``$<n>`` and a body, are skipped whole).
Values come from :class:`ValueSource`: slices of one big random buffer (incompressible, like real data) or
DEBUG POPULATE's repetitive ``value:<id>`` padded with zero bytes.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

import numpy as np

KEY_PREFIX = b"key:"
"""Key names are ``key:<id>``, as ``DEBUG POPULATE <n> key`` makes them."""


def key_name(i: int) -> bytes:
    """The name of key ``i``."""
    return b"key:%d" % i


def mean_key_name_bytes(keys: int) -> float:
    """Mean length of ``key:<i>`` over i in [0, keys): 4 bytes of prefix plus the decimal digits."""
    if keys <= 0:
        return 0.0
    total, lo, digits = 0, 0, 1
    while lo < keys:
        hi = min(keys, 10**digits)
        total += (hi - lo) * digits
        lo, digits = hi, digits + 1
    return len(KEY_PREFIX) + total / keys


class ValueSource:
    """Values of one size: random slices of a big random buffer, or DEBUG POPULATE's repetitive pattern."""

    def __init__(self, value_size: int, pattern: str = "random", seed: int = 1, buffer_bytes: int = 32 << 20) -> None:
        if pattern not in ("random", "repetitive"):
            raise ValueError(f"unknown value pattern {pattern!r}")
        self.value_size = int(value_size)
        self.pattern = pattern
        self._rng = np.random.default_rng(seed)
        if pattern == "random":
            size = max(buffer_bytes, 64 * self.value_size)
            self._buf = memoryview(self._rng.bytes(size))
            self._span = size - self.value_size
        self._offsets = np.empty(0, np.int64)
        self._next = 0
        self._pad = b"\0" * self.value_size

    def value(self, key_id: int) -> bytes | memoryview:
        """A value for a write to ``key_id``."""
        if self.pattern == "repetitive":
            head = b"value:%d" % key_id
            return (head + self._pad[len(head) :]) if len(head) < self.value_size else head[: self.value_size]
        if self._next >= len(self._offsets):
            self._offsets = self._rng.integers(0, self._span + 1, 65536)
            self._next = 0
        off = int(self._offsets[self._next])
        self._next += 1
        return self._buf[off : off + self.value_size]


def set_commands(ids: Iterable[int], values: ValueSource) -> bytes:
    """RESP for ``SET key:<id> <value>`` for every id, concatenated."""
    parts: list[bytes | memoryview] = []
    vlen = b"$%d\r\n" % values.value_size
    for i in ids:
        k = b"key:%d" % i
        parts.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n" % (len(k), k))
        parts.append(vlen)
        parts.append(values.value(i))
        parts.append(b"\r\n")
    return b"".join(parts)


class RespConnection:
    """A blocking socket to the server that sends pipelined commands and counts one-line replies."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float | None = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pending = b""
        self._partial = (0, 0)  # (replies, errors) already read by a call that timed out
        self.last_error: str | None = None

    def close(self) -> None:
        """Close the socket."""
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> RespConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, payload: bytes) -> None:
        """Send raw RESP."""
        self.sock.sendall(payload)

    def read_replies(self, n: int) -> int:
        """Read ``n`` replies (one-line, or bulk strings as LPOP and ZINCRBY answer); returns how many were errors.

        Raises ConnectionError on EOF. On a socket timeout the replies read so far are kept, so calling
        again with the same ``n`` resumes where the timed-out call stopped.
        """
        got, errors = self._partial
        data = self._pending
        pos = 0
        while True:
            while got < n:
                end = data.find(b"\r\n", pos)
                if end < 0:
                    break
                kind = data[pos : pos + 1]
                if kind == b"-":
                    errors += 1
                    self.last_error = data[pos:end].decode(errors="replace")
                elif kind == b"$" and data[pos + 1 : pos + 2] != b"-":  # a bulk reply (LPOP, ZINCRBY): skip its body
                    body_end = end + 2 + int(data[pos + 1 : end]) + 2
                    if body_end > len(data):
                        break
                    end = body_end - 2
                pos = end + 2
                got += 1
            data = data[pos:]
            pos = 0
            if got >= n:
                self._pending, self._partial = data, (0, 0)
                return errors
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                self._pending, self._partial = data, (got, errors)
                raise
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk

    def pipeline_sets(self, ids: Iterable[int], values: ValueSource) -> tuple[int, int]:
        """SET every id and wait for the replies; returns (sent, errors)."""
        ids = list(ids)
        self.send(set_commands(ids, values))
        return len(ids), self.read_replies(len(ids))
