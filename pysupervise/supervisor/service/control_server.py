"""The master's side of the control socket: status, reload and stop for the CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

log = logging.getLogger("pysupervise.control")

# A handler yields reply dicts; each becomes one JSON line.
Handler = Callable[[dict[str, Any]], AsyncIterator[dict[str, Any]]]


class ControlServer:
    def __init__(self, socket_path: Path, handlers: dict[str, Handler]) -> None:
        self.socket_path = socket_path
        self.handlers = handlers
        self._server: asyncio.AbstractServer | None = None
        self._replying: set[asyncio.Task] = set()

    async def start(self) -> None:
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))
        os.chmod(self.socket_path, 0o600)  # control means stop and reload: owner only

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._replying.add(task)
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
                handler = self.handlers[request.get("cmd")]
            except (ValueError, KeyError, AttributeError):
                await self._reply(writer, {"ok": False, "error": f"unknown control request: {line[:200]!r}"})
                return
            async for reply in handler(request):
                await self._reply(writer, reply)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("control request failed")
            await self._reply(writer, {"ok": False, "error": "internal error; see the master's output"})
        finally:
            writer.close()
            self._replying.discard(task)

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()

    async def close(self, reply_timeout: float = 2.0) -> None:
        """Stop listening; give requests under way (a `stop` waiting to report) time to answer."""
        if self._server is not None:
            self._server.close()
            self._server = None
        replying = [t for t in self._replying if t is not asyncio.current_task()]
        if replying:
            await asyncio.wait(replying, timeout=reply_timeout)
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass


def single(reply: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> Handler:
    """Adapt a one-answer coroutine to the streaming handler shape."""

    async def handler(request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        yield await reply(request)

    return handler
