"""`python -m sample_apps.counter [--port 8084] [--bus URL]`: the counter alone on a TCP port, for development.

Without --bus (or $PYSUPERVISE_CACHE / $PYSUPERVISE_BUS) it starts an embedded broker in this
process for the session cache and prints its URL; a second copy given ``--bus <that URL>`` shares
the sessions (open both ports with the same cookie jar, e.g. curl -b/-c, to see it).
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
from sample_apps.counter.app import create_app
from sample_apps.counter.settings import CounterSettings


async def run(args: argparse.Namespace) -> None:
    broker, folder, cache_url = None, None, args.bus
    if not cache_url:
        folder = Path(tempfile.mkdtemp(prefix="ctrbus-", dir="/tmp"))  # short: Unix socket paths are limited
        broker = EmbeddedBroker(folder / "bus.sock")
        await broker.start()
        cache_url = broker.url
        print(f"embedded cache: {cache_url}  (share it with another copy: --bus {cache_url})", flush=True)
    settings = CounterSettings.from_env({**os.environ, "PYSUPERVISE_CACHE": cache_url})
    runner = web.AppRunner(await create_app(settings))
    await runner.setup()
    try:
        await web.TCPSite(runner, args.host, args.port).start()
        host, port = runner.addresses[0][:2]
        print(f"counter listening on http://{host}:{port}{settings.prefix}/inc and {settings.prefix}/get", flush=True)
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
    parser = argparse.ArgumentParser(prog="python -m sample_apps.counter", description="The counter alone on a TCP port.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8084, help="0 picks a free port (default: %(default)s)")
    parser.add_argument("--bus", metavar="URL", default=os.environ.get("PYSUPERVISE_CACHE") or os.environ.get("PYSUPERVISE_BUS"),
                        help="cache URL to share with other copies; default: an embedded broker in this process")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
