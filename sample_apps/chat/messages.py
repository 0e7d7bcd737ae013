"""Chat messages: what a client may send, what goes over the bus channel, and the errors for over-long fields."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

MAX_NICKNAME = 12
MAX_MESSAGE = 140
MAX_HOST = 63  # [supervisor] host_id's own limit


class InvalidMessage(ValueError):
    """The client's message cannot be sent; str(error) is the text shown to that client."""


@dataclass(frozen=True)
class ChatMessage:
    nickname: str
    message: str
    sourceWorker: int  # noqa: N815 — the field name the original protocol used
    # The host of that worker ($PYSUPERVISE_HOST): behind a load balancer, slot 0 exists on every host.
    sourceHost: str = ""  # noqa: N815 — named like sourceWorker

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def _field(data: dict[str, Any], name: str, limit: int) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise InvalidMessage(f"{name} must be text")
    value = value.strip()
    if not value:
        raise InvalidMessage(f"{name} is empty")
    if len(value) > limit:
        raise InvalidMessage(f"{name} is {len(value)} characters long; the limit is {limit}")
    return value


def from_client(text: str, worker: int, host: str = "") -> ChatMessage:
    """A client's {"nickname", "message"}, checked, with the worker (and its host) that received it added."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidMessage("not JSON: send {\"nickname\": …, \"message\": …}") from None
    if not isinstance(data, dict):
        raise InvalidMessage("send an object: {\"nickname\": …, \"message\": …}")
    return ChatMessage(_field(data, "nickname", MAX_NICKNAME), _field(data, "message", MAX_MESSAGE), worker, host)


def from_channel(raw: bytes) -> ChatMessage:
    """A message from the bus channel, checked again: anything on the bus could have published it."""
    data = json.loads(raw)
    worker = data.get("sourceWorker") if isinstance(data, dict) else None
    if not isinstance(worker, int) or isinstance(worker, bool):
        raise InvalidMessage("no sourceWorker")
    # Optional: a worker of an older version, still running on a host not yet updated, sends none.
    host = data.get("sourceHost", "")
    if not isinstance(host, str) or len(host) > MAX_HOST:
        raise InvalidMessage("sourceHost must be a host name")
    return ChatMessage(_field(data, "nickname", MAX_NICKNAME), _field(data, "message", MAX_MESSAGE), worker, host)


def error_frame(problem: str) -> str:
    return json.dumps({"type": "error", "error": problem})


def notice_frame(notice: str) -> str:
    """Something the room should know that is not a message, e.g. that some may have been missed."""
    return json.dumps({"type": "notice", "notice": notice})


def message_frame(message: ChatMessage) -> str:
    return json.dumps({"type": "message", **asdict(message)})


def welcome_frame(worker: int, pid: int, nickname: str, host: str = "") -> str:
    return json.dumps({"type": "welcome", "host": host, "worker": worker, "pid": pid, "nickname": nickname})
