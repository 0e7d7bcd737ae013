"""Raw HTTP/1.x over a socket, for tests that need exact bytes (pipelining, HTTP/1.0, bad requests)."""

from __future__ import annotations

import socket
import struct
import time


class RawConnection:
    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""
        self.last_head = b""  # the last response head read_response read, as it came, without its blank line

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until_closed(self, timeout: float = 10) -> bytes:
        self.sock.settimeout(timeout)
        while chunk := self.sock.recv(65536):
            self.buffer += chunk
        data, self.buffer = self.buffer, b""
        return data

    def read_response(self, timeout: float = 10, head_only: bool = False) -> tuple[int, dict[str, list[str]], bytes]:
        """One response: status, headers (lower-case names, all values), body (Content-Length or chunked)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buffer:
            self._fill(deadline)
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.last_head = head
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        if head_only or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if "content-length" in headers:
            length = int(headers["content-length"][0])
            while len(self.buffer) < length:
                self._fill(deadline)
            body, self.buffer = self.buffer[:length], self.buffer[length:]
            return status, headers, body
        if headers.get("transfer-encoding") == ["chunked"]:
            body = b""
            while True:
                while b"\r\n" not in self.buffer:
                    self._fill(deadline)
                size_line, self.buffer = self.buffer.split(b"\r\n", 1)
                size = int(size_line, 16)
                while len(self.buffer) < size + 2:
                    self._fill(deadline)
                body += self.buffer[:size]
                self.buffer = self.buffer[size + 2:]
                if size == 0:
                    return status, headers, body
        return status, headers, self.read_until_closed(timeout)

    def _fill(self, deadline: float) -> None:
        self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed; got so far: {self.buffer[:500]!r}")
        self.buffer += chunk

    def is_closed(self, timeout: float = 5) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()

    def reset(self) -> None:
        """Close with a reset, as a browser tab that is closed does: a plain close is a half-close, and a half-closed
        client may still read its answer, so its request goes on."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
