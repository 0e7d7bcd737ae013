"""A stand-in for the backend's callback endpoint, recording what the simulator sends it (handshakes and notifications)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class CallbackRecorder:
    echo: bool = True  # answer the handshake correctly?
    handshakes: list[dict[str, str]] = field(default_factory=list)
    notifications: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)  # (city, body, headers)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cb/{city}", self._handshake)
        app.router.add_post("/cb/{city}", self._notification)
        return app

    async def _handshake(self, request: web.Request) -> web.Response:
        self.handshakes.append(dict(request.query))
        challenge = request.query.get("hub.challenge", "")
        return web.Response(text=challenge if self.echo else challenge + "-wrong")

    async def _notification(self, request: web.Request) -> web.Response:
        self.notifications.append((request.match_info["city"], await request.read(), dict(request.headers)))
        return web.Response(text="")
