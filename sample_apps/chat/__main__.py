"""`python -m sample_apps.chat [--port 8083] [--bus URL]`: the chat alone on a TCP port, for development.

Without --bus (or $PYSUPERVISE_BUS) it starts an embedded broker in this process and prints its URL;
run a second copy with ``--port 8084 --bus <that URL>`` to see messages cross between two "workers"
(set PYSUPERVISE_WORKER=1 on the second one to give it another colour).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from sample_apps.chat.app import create_app
from sample_apps.chat.settings import ChatSettings
from sample_apps.devserver import add_bus_argument, add_listen_arguments, dev_bus, listen, serve


async def run(args: argparse.Namespace) -> None:
    async with dev_bus(args.bus) as bus_url:
        sock = listen(args.host, args.port)
        settings = ChatSettings.from_env({**os.environ, "PYSUPERVISE_BUS": bus_url})
        await serve([("chat", create_app(settings), sock, f"{settings.prefix}/")])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_apps.chat", description="The chat app alone on a TCP port.")
    add_listen_arguments(parser, default_port=8083)
    add_bus_argument(parser)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
