"""`python -m sample_apps.wazstagram`: all three roles in one process for development, sharing one embedded bus.

The frontend listens on --port (default 8080), the backend on the next port and the simulator on
the one after (--port 0: free ports). Open the frontend's URL and pictures stream in.
"""

from __future__ import annotations

import argparse
import asyncio
import os

from sample_apps.wazstagram.backend.app import create_app as create_backend
from sample_apps.wazstagram.backend.settings import BackendSettings
from sample_apps.wazstagram.demo import DEMO_CLIENT_SECRET
from sample_apps.devserver import add_bus_argument, add_listen_arguments, dev_bus, listen, serve, url_of, worker_env
from sample_apps.wazstagram.frontend.app import create_app as create_frontend
from sample_apps.wazstagram.frontend.settings import FrontendSettings
from sample_apps.wazstagram.instagram_sim.app import create_app as create_simulator
from sample_apps.wazstagram.instagram_sim.settings import SimSettings


async def run(args: argparse.Namespace) -> None:
    ports = (0, 0, 0) if args.port == 0 else (args.port, args.port + 1, args.port + 2)
    frontend_sock, backend_sock, sim_sock = (listen(args.host, port) for port in ports)
    sim_url = url_of(sim_sock)
    async with dev_bus(args.bus) as bus_url:
        frontend = create_frontend(FrontendSettings.from_env(worker_env("frontend", bus_url, url_of(frontend_sock))))
        backend_env = {"INSTAGRAM_CLIENT_SECRET": DEMO_CLIENT_SECRET,
                       **worker_env("backend", bus_url, url_of(backend_sock), INSTAGRAM_API=f"{sim_url}/v1")}
        backend = create_backend(BackendSettings.from_env(backend_env))
        simulator = create_simulator(SimSettings.from_env({"SIM_MEDIA_BASE": sim_url, **os.environ}))
        await serve([("instagram simulator", simulator, sim_sock), ("backend", backend, backend_sock),
                     ("frontend", frontend, frontend_sock)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sample_apps.wazstagram",
                                     description="wazstagram's frontend, backend and Instagram simulator in one process.")
    add_listen_arguments(parser, 8080)
    add_bus_argument(parser)
    asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
