"""The simulator's settings, read from its environment (the app's `env` table in supervisor.toml)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from sample_apps.wazstagram.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

# The generator never posts faster than this, whatever SIM_INTERVAL says: it must not flood the site.
MIN_INTERVAL = 0.05


@dataclass(frozen=True)
class SimSettings:
    clients: tuple[tuple[str, str], ...]  # (client_id, client_secret) of the registered "applications"
    seed: int = 2013
    interval: float = 1.0  # seconds between notification batches
    # Prefix of image URLs. "" = root-relative (/media/...): right when hosted, on every host of a site behind a
    # load balancer too, since the frontends of hosts without the simulator relay /media to it (MEDIA_ORIGIN).
    media_base: str = ""
    initial_items: int = 5  # pictures a geography has when it is first subscribed
    max_new_items: int = 3  # each change adds 1..max_new_items pictures
    double_update_chance: float = 0.25  # how often a batch carries two updates
    keep_items: int = 200  # pictures kept per geography (older ones are forgotten)
    notify: bool = True  # run the notification generator

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SimSettings:
        env = os.environ if environ is None else environ
        raw_clients = env.get("SIM_CLIENTS") or f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}"
        clients = []
        for entry in raw_clients.split(","):
            client_id, sep, secret = entry.strip().partition(":")
            if not sep or not client_id or not secret:
                raise ValueError(f"SIM_CLIENTS: expected 'client_id:client_secret[,…]', got {entry!r}")
            clients.append((client_id, secret))
        return cls(
            clients=tuple(clients),
            seed=int(env.get("SIM_SEED", cls.seed)),
            interval=max(MIN_INTERVAL, float(env.get("SIM_INTERVAL", cls.interval))),
            media_base=env.get("SIM_MEDIA_BASE", cls.media_base).rstrip("/"),
            notify=env.get("SIM_NOTIFY", "1") not in ("0", "false", "no"),
        )

    def secret_of(self, client_id: str) -> str | None:
        return dict(self.clients).get(client_id)
