"""The browsers connected to this worker, each with a bounded outbox, and a broadcast to all of them."""

from __future__ import annotations

import logging

from aiohttp import web

from sample_apps.socket_outbox import SocketOutbox

log = logging.getLogger("chat")

OUTBOX_LIMIT = 500  # frames a socket may lag behind before it is closed (the page reconnects)


class Participant(SocketOutbox):
    """One browser in the chat."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        super().__init__(ws, OUTBOX_LIMIT, log)


class LocalRoom:
    """Everyone connected to this worker; the bus channel makes the room span all workers."""

    def __init__(self) -> None:
        self.participants: set[Participant] = set()

    def add(self, participant: Participant) -> None:
        self.participants.add(participant)

    def remove(self, participant: Participant) -> None:
        self.participants.discard(participant)

    def broadcast(self, frame: str) -> int:
        for participant in self.participants:
            participant.send(frame)
        return len(self.participants)
