"""The readiness probe: one `GET ready_path` over a worker's Unix socket, and whether it answered below 500."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

# Bounds on what a probe reads: a status line, some headers, the head of a body.
_LINE_MAX = 8 * 1024
_HEADER_LINES_MAX = 100
_BODY_HEAD = 300
_BODY_SHOWN = 200


@dataclass(frozen=True)
class ProbeResult:
    """`ready` when the worker answered with a status below 500; `outcome` says what happened, for logs."""

    ready: bool
    outcome: str
    status: int | None = None


async def probe(socket_path: str, path: str, host: str, timeout: float) -> ProbeResult:
    """One attempt, bounded by `timeout` seconds; never raises for what a worker does or does not say."""
    try:
        return await asyncio.wait_for(_exchange(socket_path, path, host), timeout)
    except asyncio.TimeoutError:
        return ProbeResult(False, f"GET {path}: no answer within {timeout:g} s")
    except (OSError, EOFError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        return ProbeResult(False, f"GET {path}: {_describe(exc)}")


async def _exchange(socket_path: str, path: str, host: str) -> ProbeResult:
    reader, writer = await asyncio.open_unix_connection(socket_path, limit=_LINE_MAX)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pysupervise-readiness\r\n"
                     f"Accept: */*\r\nConnection: close\r\n\r\n".encode("latin-1"))
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise EOFError("connection closed before an answer")
        parts = status_line.decode("latin-1").split(None, 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            return ProbeResult(False, f"GET {path}: not an HTTP answer: {_shown(status_line)}")
        status = int(parts[1])
        if status < 500:
            return ProbeResult(True, f"GET {path}: {status}", status)
        return ProbeResult(False, f"GET {path}: {status}{await _body_head(reader)}", status)
    finally:
        writer.close()


async def _body_head(reader: asyncio.StreamReader) -> str:
    """The first bytes of an error answer's body (after its headers), on one line; "" if there are none."""
    try:
        for _ in range(_HEADER_LINES_MAX):
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
        body = await reader.read(_BODY_HEAD)
    except (OSError, ValueError, asyncio.LimitOverrunError):
        return ""
    shown = _shown(body)
    return f": {shown}" if shown else ""


def _shown(raw: bytes) -> str:
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text if len(text) <= _BODY_SHOWN else text[:_BODY_SHOWN] + "…"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "its socket is gone"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset before an answer"
    if isinstance(exc, (EOFError, asyncio.IncompleteReadError)):
        return "connection closed before an answer"
    if isinstance(exc, (ValueError, asyncio.LimitOverrunError)):
        return "answer line too long"
    return exc.strerror or str(exc) if isinstance(exc, OSError) else str(exc)
