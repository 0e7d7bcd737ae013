"""Test app (aiohttp) that dies at import while the file $CRASH_MARKER exists, in the slots listed in $CRASH_SLOTS."""

from __future__ import annotations

import os
import sys

from aiohttp import web

if os.path.exists(os.environ["CRASH_MARKER"]) and os.environ.get("PYSUPERVISE_WORKER") in os.environ.get(
        "CRASH_SLOTS", "").split(","):
    print(f"fragile: {os.environ['CRASH_MARKER']} exists, refusing to start", file=sys.stderr, flush=True)
    sys.exit(3)


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"pid": os.getpid(), "slot": os.environ.get("PYSUPERVISE_WORKER")})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get(os.environ.get("PREFIX", "") + "/whoami", whoami)
    return app
