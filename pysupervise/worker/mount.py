"""The URL prefix an app is mounted at, as the proxy says it (X-Forwarded-Prefix), given to ASGI and WSGI apps."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

_PREFIX_HEADER = b"x-forwarded-prefix"


class MountedAt:
    """ASGI middleware: `root_path` is the route prefix the proxy matched; `path` stays the full path.

    That is the ASGI spec's reading that uvicorn (`--root-path`, since 0.26) and Starlette follow: FastAPI
    routes on `path` minus `root_path` and puts `root_path` in /docs' openapi URL, Django's ASGIHandler makes
    it the script prefix, and the WSGI bridges (a2wsgi, uvicorn's copy) make SCRIPT_NAME = root_path and
    PATH_INFO = the rest, which is what Flask's url_for and Django's reverse() build links from. The header
    is believed as X-Forwarded-For is: only the proxy reaches the worker's socket, and it drops a client's.
    """

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        if scope["type"] != "lifespan":
            for name, value in scope["headers"]:
                if name == _PREFIX_HEADER:
                    # Sent percent-encoded (a header is ASCII); `path` is decoded, so compare decoded.
                    prefix = unquote(value.decode("latin-1"))
                    path = scope["path"]
                    if path.startswith(prefix) and path[len(prefix):len(prefix) + 1] in ("", "/"):
                        scope["root_path"] = prefix
                    break
        return await self.app(scope, receive, send)
