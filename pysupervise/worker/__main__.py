"""`python -m pysupervise.worker module:attr`: the program every `app = ...` worker runs."""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from pysupervise.worker.runtime_path import append_master_packages

# First: under an app's own Python (`python = ...`) the modules below may need the master's copies of their packages.
append_master_packages()

from pysupervise.worker.control_hook import start_control_hook  # noqa: E402
from pysupervise.worker.detect import AppLoadError, LoadedApp, load_app  # noqa: E402
from pysupervise.worker.serve import ServeOptions, run_in_loop, serve  # noqa: E402

# Distinct from an app's own failures so the master can say "could not load" rather than "crashed".
EXIT_LOAD_FAILED = 3


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pysupervise.worker",
                                     description="Serve a Python web app on the Unix socket in $PORT.")
    parser.add_argument("app", help='"module:attribute" or "module:factory(args)"')
    parser.add_argument("--interface", default="auto", choices=["auto", "aiohttp", "asgi", "wsgi"])
    parser.add_argument("--threads", type=_positive, default=10, help="WSGI apps: threads running the handlers")
    args = parser.parse_args(argv)
    socket_path = os.environ.get("PORT")
    if not socket_path:
        print("pysupervise worker: $PORT (the Unix socket path to listen on) is not set", file=sys.stderr)
        return 2
    graceful_timeout = float(os.environ.get("PYSUPERVISE_GRACEFUL_TIMEOUT", "30"))
    # The app's folder comes first, as for `python app.py` run from it.
    sys.path.insert(0, os.getcwd())
    # Before the app: stack dumps and the debugger reach even a worker whose import hangs.
    hook = start_control_hook(args.app)
    if hook is not None and hook.entry is not None:
        hook.wait_for_debugger()  # ?brk: the debugger stops at the app's first line
    heartbeat = hook.heartbeat if hook is not None else None
    try:
        loaded = load_app(args.app, args.interface)
    except AppLoadError as exc:
        print(f"pysupervise worker: {exc}", file=sys.stderr)
        return EXIT_LOAD_FAILED
    except BaseException:
        print(f"pysupervise worker: importing {args.app} failed:", file=sys.stderr)
        traceback.print_exc()
        return EXIT_LOAD_FAILED

    def served(app: LoadedApp) -> None:
        if hook is not None:
            # For the master: with interface = "auto" only the runtime knows whether the handlers run on threads.
            hook.served = {"interface": app.interface, "threads": args.threads if app.interface == "wsgi" else None}

    try:
        run_in_loop(serve(loaded, ServeOptions(socket_path, graceful_timeout, args.threads), heartbeat, served))
    except AppLoadError as exc:  # what a factory returned, or the factory itself, failed
        print(f"pysupervise worker: {exc}", file=sys.stderr)
        return EXIT_LOAD_FAILED
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
