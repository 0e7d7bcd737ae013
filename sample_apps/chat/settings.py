"""The chat app's settings, read from its environment (the worker contract plus the app's `env` table)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class ChatSettings:
    prefix: str = "/chat"  # the app's route in supervisor.toml: the URL reaches the app unchanged
    channel: str = "chat"
    worker: int = 0
    host: str = ""  # which host the worker runs on: $PYSUPERVISE_HOST ([supervisor] host_id), else the hostname
    bus_url: str | None = None  # None: $PYSUPERVISE_BUS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ChatSettings:
        env = os.environ if environ is None else environ
        return cls(
            prefix="/" + env.get("CHAT_PREFIX", cls.prefix).strip("/"),
            channel=env.get("CHAT_CHANNEL", cls.channel),
            worker=int(env.get("PYSUPERVISE_WORKER", "0")),
            host=env.get("PYSUPERVISE_HOST") or socket.gethostname(),
            bus_url=env.get("PYSUPERVISE_BUS") or None,
        )
