"""Test app for the `command` recipes in README.md: one WSGI and one ASGI callable, served by real servers."""

import json
import os


def _answer(server_path: str) -> bytes:
    return json.dumps({"pid": os.getpid(), "path": server_path, "recipe": os.environ.get("RECIPE"),
                       "socket": os.environ.get("PYSUPERVISE_SOCKET")}).encode()


def wsgi(environ, start_response):
    body = _answer(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    body = _answer(scope.get("root_path", "") + scope["path"])
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
