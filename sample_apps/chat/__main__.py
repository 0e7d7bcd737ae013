"""`python -m sample_apps.chat [--port 8083] [--bus URL]`: the chat alone on a TCP port, for development.

Without --bus (or $PYSUPERVISE_BUS) it starts an embedded broker in this process and prints its URL;
run a second copy with ``--port 8084 --bus <that URL>`` to see messages cross between two "workers"
(set PYSUPERVISE_WORKER=1 on the second one to give it another colour).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import tempfile
from pathlib import Path

from aiohttp import web

from pysupervise.bus.broker import EmbeddedBroker
from sample_apps.chat.app import create_app
from sample_apps.chat.settings import ChatSettings


async def run(args: argparse.Namespace) -> None:
    broker, folder, bus_url = None, None, args.bus
    if not bus_url:
        folder = Path(tempfile.mkdtemp(prefix="chatbus-", dir="/tmp"))  # short: Unix socket paths are limited
        broker = EmbeddedBroker(folder / "bus.sock")
        await broker.start()
        bus_url = broker.url
        print(f"embedded bus: {bus_url}  (share it with another copy: --bus {bus_url})", flush=True)
    settings = ChatSettings.from_env({**os.environ, "PYSUPERVISE_BUS": bus_url})
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    try:
        await web.TCPSite(runner, args.host, args.port).start()
        host, port = runner.addresses[0][:2]
        print(f"chat listening on http://{host}:{port}{settings.prefix}/", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
        if broker is not None:
            await broker.close()
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_apps.chat", description="The chat app alone on a TCP port.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083, help="0 picks a free port (default: %(default)s)")
    parser.add_argument("--bus", metavar="URL", default=os.environ.get("PYSUPERVISE_BUS"),
                        help="bus URL to share with other copies; default: an embedded broker in this process")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
