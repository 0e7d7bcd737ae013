"""`python -m sample_apps.wazstagram.backend`: the backend alone on a TCP port, for development.

It needs Instagram (run the simulator: ``python -m sample_apps.wazstagram.instagram_sim --port 8082``)
and a bus: ``--bus URL`` to share one with a frontend, else an embedded broker in this process
(its URL is printed; pass it to the frontend's --bus). Callbacks are registered at this server's
own address; INSTAGRAM_CLIENT_ID / INSTAGRAM_CLIENT_SECRET default to the simulator's demo client.
"""

from __future__ import annotations

import argparse
import asyncio

from sample_apps.wazstagram.backend.app import create_app
from sample_apps.wazstagram.backend.settings import BackendSettings
from sample_apps.wazstagram.demo import DEMO_CLIENT_SECRET
from sample_apps.devserver import add_bus_argument, add_listen_arguments, dev_bus, listen, serve, url_of, worker_env


async def run(args: argparse.Namespace) -> None:
    sock = listen(args.host, args.port)
    async with dev_bus(args.bus) as bus_url:
        env = worker_env("backend", bus_url, url_of(sock), INSTAGRAM_API=args.instagram_api)
        env = {"INSTAGRAM_CLIENT_SECRET": DEMO_CLIENT_SECRET, **env}
        await serve([("backend", create_app(BackendSettings.from_env(env)), sock)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_apps.wazstagram.backend",
                                     description="The wazstagram backend role, alone on a TCP port.")
    add_listen_arguments(parser, 8081)
    add_bus_argument(parser)
    parser.add_argument("--instagram-api", default="http://127.0.0.1:8082/v1",
                        help="Instagram's API base (default: the simulator at %(default)s)")
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
