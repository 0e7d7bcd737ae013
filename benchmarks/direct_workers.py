"""N copies of an aiohttp app sharing one TCP port with SO_REUSEPORT: the 'no proxy at all' baseline."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

# The app is named like in supervisor.toml ("package.module:attr"), relative to the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def serve(target: str, port: int) -> None:
    import uvloop

    module, _, attribute = target.partition(":")
    app = getattr(importlib.import_module(module), attribute)
    app = app() if not isinstance(app, web.Application) else app
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, access_log=None, print=None,
                loop=uvloop.new_event_loop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            serve(args.app, args.port)
            os._exit(0)
        children.append(pid)

    def stop(*_args: object) -> None:
        for child in children:
            os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        os.waitpid(child, 0)
    sys.exit(0)


if __name__ == "__main__":
    main()
