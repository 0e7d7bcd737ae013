"""Test app: a bare ASGI 3 application (no framework), served through uvicorn by the worker runtime."""

import json
import os


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":  # accepts, says how it sees the connection, and closes
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps({"client": scope.get("client"),
                                                                  "scheme": scope.get("scheme"),
                                                                  "root_path": scope.get("root_path")})})
        await send({"type": "websocket.close"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = json.dumps({"interface": "asgi", "pid": os.getpid(), "path": scope["path"],
                          "root_path": scope.get("root_path"),
                          "forwarded_prefix": dict(scope["headers"]).get(b"x-forwarded-prefix", b"").decode() or None,
                          "method": scope["method"], "body": body.decode(),
                          "client": scope.get("client"), "scheme": scope.get("scheme")}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": payload})
