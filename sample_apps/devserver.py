"""Running a sample app without pysupervise: an in-process embedded bus, TCP listeners and the worker environment."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Mapping, Sequence

from aiohttp import web

from pysupervise.bus.broker import EmbeddedBroker


def add_listen_arguments(parser: argparse.ArgumentParser, default_port: int) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=default_port, help="TCP port; 0 picks a free one (default: %(default)s)")


def add_bus_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bus", metavar="URL", default=os.environ.get("PYSUPERVISE_BUS"),
                        help="bus/cache URL (pysupervise+unix:///…/bus.sock or redis://…); default: $PYSUPERVISE_BUS, "
                             "else an embedded broker started in this process")


@asynccontextmanager
async def dev_bus(url: str | None) -> AsyncIterator[str]:
    """The given bus URL, or a fresh EmbeddedBroker for as long as the block runs."""
    if url:
        yield url
        return
    # A short folder under /tmp: Unix socket paths are limited to 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="wazbus-", dir="/tmp"))
    broker = EmbeddedBroker(folder / "bus.sock")
    await broker.start()
    print(f"embedded bus: {broker.url}  (give it to other roles with --bus to share it)", flush=True)
    try:
        yield broker.url
    finally:
        await broker.close()
        shutil.rmtree(folder, ignore_errors=True)


def listen(host: str, port: int) -> socket.socket:
    """A bound, listening socket: bound before the app exists, so an app can be told its own URL."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def worker_env(app_name: str, bus_url: str, public_url: str, **extra: str) -> Mapping[str, str]:
    """The environment pysupervise would give one worker (slot 0), over this process's own."""
    return {**os.environ, "PYSUPERVISE_APP": app_name, "PYSUPERVISE_WORKER": "0", "PYSUPERVISE_BUS": bus_url,
            "PYSUPERVISE_CACHE": os.environ.get("PYSUPERVISE_CACHE") or bus_url, "PYSUPERVISE_URL": public_url, **extra}


async def serve(apps: Sequence[tuple]) -> None:
    """Serve each (label, app, socket[, path]) until SIGINT or SIGTERM, then clean them all up.

    `path` is what a person should open (e.g. "/chat/"); it is added to the printed URL.
    """
    runners = []
    try:
        for label, app, sock, *path in apps:
            runner = web.AppRunner(app)
            await runner.setup()
            runners.append(runner)
            await web.SockSite(runner, sock).start()
            print(f"{label} listening on {url_of(sock)}{path[0] if path else ''}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
