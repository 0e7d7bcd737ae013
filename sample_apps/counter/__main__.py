"""`python -m sample_apps.counter [--port 8084] [--bus URL]`: the counter alone on a TCP port, for development.

Without --bus (or $PYSUPERVISE_CACHE / $PYSUPERVISE_BUS) it starts an embedded broker in this
process for the session cache and prints its URL; a second copy given ``--bus <that URL>`` shares
the sessions (open both ports with the same cookie jar, e.g. curl -b/-c, to see it).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from sample_apps.counter.app import create_app
from sample_apps.counter.settings import CounterSettings
from sample_apps.devserver import add_bus_argument, add_listen_arguments, dev_bus, listen, serve


async def run(args: argparse.Namespace) -> None:
    async with dev_bus(args.bus or os.environ.get("PYSUPERVISE_CACHE")) as cache_url:
        sock = listen(args.host, args.port)
        settings = CounterSettings.from_env({**os.environ, "PYSUPERVISE_CACHE": cache_url})
        await serve([("counter", await create_app(settings), sock, f"{settings.prefix}/inc")])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_apps.counter", description="The counter alone on a TCP port.")
    add_listen_arguments(parser, default_port=8084)
    add_bus_argument(parser)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
