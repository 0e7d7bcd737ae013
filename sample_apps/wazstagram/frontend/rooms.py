"""Websocket rooms: each socket watches one city; each has its own bounded outbox so one slow browser delays nobody."""

from __future__ import annotations

import logging

from aiohttp import web

from sample_apps.socket_outbox import SocketOutbox

log = logging.getLogger("wazstagram.frontend")

# Frames one socket may have queued; a browser this far behind is disconnected (it reconnects and
# gets the cache replayed), rather than holding memory without bound.
OUTBOX_LIMIT = 1000


class Viewer(SocketOutbox):
    """One browser socket; it watches one city's room at a time."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        super().__init__(ws, OUTBOX_LIMIT, log)
        self.room: str | None = None


class Rooms:
    """Which viewers watch which city."""

    def __init__(self) -> None:
        self._rooms: dict[str, set[Viewer]] = {}

    def join(self, viewer: Viewer, room: str) -> None:
        self.leave(viewer)
        self._rooms.setdefault(room, set()).add(viewer)
        viewer.room = room

    def leave(self, viewer: Viewer) -> None:
        if viewer.room is not None:
            members = self._rooms.get(viewer.room, set())
            members.discard(viewer)
            if not members:
                self._rooms.pop(viewer.room, None)
            viewer.room = None

    def send(self, room: str, frame: str) -> int:
        members = self._rooms.get(room, ())
        for viewer in members:
            viewer.send(frame)
        return len(members)

    def viewers(self) -> list[Viewer]:
        return [viewer for members in self._rooms.values() for viewer in members]
