"""`python -m sample_apps.wazstagram.instagram_sim [--port 8082]`: the simulator alone on a TCP port, for development.

Image URLs then point at this server (SIM_MEDIA_BASE defaults to its own address). Clients it knows:
SIM_CLIENTS="id:secret,…" (default: the demo client the backend also defaults to when run alone).
"""

from __future__ import annotations

import argparse
import asyncio
import os

from sample_apps.devserver import add_listen_arguments, listen, serve, url_of
from sample_apps.wazstagram.instagram_sim.app import create_app
from sample_apps.wazstagram.instagram_sim.settings import SimSettings


async def run(args: argparse.Namespace) -> None:
    sock = listen(args.host, args.port)
    env = {"SIM_MEDIA_BASE": url_of(sock), **os.environ}
    await serve([("instagram simulator", create_app(SimSettings.from_env(env)), sock)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_apps.wazstagram.instagram_sim",
                                     description="The offline Instagram simulator, alone on a TCP port.")
    add_listen_arguments(parser, 8082)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
