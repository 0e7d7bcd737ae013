"""For the raw `command` test apps: serve one asyncio connection handler on the Unix socket at $PORT."""

import asyncio
import os
from typing import Awaitable, Callable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _serve(handle: Handler) -> None:
    server = await asyncio.start_unix_server(handle, path=os.environ["PORT"])
    async with server:
        await server.serve_forever()


def serve(handle: Handler) -> None:
    asyncio.run(_serve(handle))
