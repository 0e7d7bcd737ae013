"""`python -m sample_apps.wazstagram.frontend`: the frontend alone on a TCP port, for development.

It shows what the backend publishes, so give it the backend's bus with ``--bus URL`` (the backend
prints the URL of its embedded broker when run alone); with no --bus and no $PYSUPERVISE_BUS it
starts its own empty broker. CITY_CACHE sets the per-city cache size (default 150).
"""

from __future__ import annotations

import argparse
import asyncio

from sample_apps.devserver import add_bus_argument, add_listen_arguments, dev_bus, listen, serve, url_of, worker_env
from sample_apps.wazstagram.frontend.app import create_app
from sample_apps.wazstagram.frontend.settings import FrontendSettings


async def run(args: argparse.Namespace) -> None:
    sock = listen(args.host, args.port)
    async with dev_bus(args.bus) as bus_url:
        settings = FrontendSettings.from_env(worker_env("frontend", bus_url, url_of(sock)))
        await serve([("frontend", create_app(settings), sock)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_apps.wazstagram.frontend",
                                     description="The wazstagram frontend role, alone on a TCP port.")
    add_listen_arguments(parser, 8080)
    add_bus_argument(parser)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
