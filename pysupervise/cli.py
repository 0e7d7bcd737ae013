"""The `pysupervise` command: start runs the master; the others talk to it over its control socket."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from pysupervise import __version__
from pysupervise.config import Config, ConfigError, find_config, load_config, locate_dirs
from pysupervise.supervisor.paths import CONTROL_SOCKET_NAME
from pysupervise.supervisor.service.control import ControlClient, NotRunning, wait_exited

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pysupervise",
        description="Host Python web apps: per-core workers behind a buffering proxy, hot reload, logs. "
                    "Without -c, every command uses the nearest supervisor.toml from the current folder up.")
    parser.add_argument("--version", action="version", version=f"pysupervise {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("-c", "--config", metavar="FILE",
                         help="the site's config file (default: the nearest supervisor.toml from the current "
                              "folder up)")
        return sub

    start = command("start", "Run the master (foreground, or --detach); Ctrl-C or SIGTERM stops it gracefully. "
                             "With APP: start an app of the running master that `stop APP` stopped.")
    start.add_argument("app", nargs="?", help="an app stopped by `pysupervise stop APP`")
    start.add_argument("--listen", metavar="HOST:PORT", help="override [supervisor] listen")
    start.add_argument("--detach", action="store_true",
                       help="run in the background (pidfile in run_dir, output in <log_dir>/pysupervise.log); "
                            "return once the site is ready (exit 0) or failed (exit 1)")
    stop = command("stop", "Stop the running master: finish requests in flight, then stop the workers. With APP: "
                           "stop that app only (its routes answer 503) until `pysupervise start APP`, across "
                           "master restarts.")
    stop.add_argument("app", nargs="?", help="the app to stop")
    command("drain", "Take this host out of its load balancer, then stop: the health page answers 503 at once, "
                     "requests are served for [supervisor] drain_timeout more, then the master stops gracefully "
                     "(SIGUSR2 does the same).")
    status = command("status", "Show every app and worker of the running master.")
    status.add_argument("--json", action="store_true", help="print the raw status as JSON")
    reload = command("reload", "Re-read supervisor.toml and start a new generation of an app's workers "
                               "(all apps without APP).")
    reload.add_argument("app", nargs="?", help="the app to reload")
    restart = command("restart", "Start a new generation of APP's workers from the config it runs, even with "
                                 "nothing changed; the old one drains.")
    restart.add_argument("app", help="the app to restart")
    scale = command("scale", "Run N workers of APP now: extra slots start, surplus slots drain, no new generation. "
                             "Kept until the master restarts or `workers` changes in supervisor.toml.")
    scale.add_argument("app", help="the app to scale")
    scale.add_argument("workers", type=int, metavar="N", help="how many workers (at least 1)")
    swap = command("swap", "Exchange production and staging of APP (an app with a staging folder): its warm staging "
                           "workers take production traffic in one step; swap again to roll back.")
    swap.add_argument("app", help="the app (NAME or NAME~staging)")
    command("systemd-unit", "Print a systemd unit file (Type=notify) that runs this site.")
    logs = command("logs", "Print an app's worker logs merged in the order the master read them, each line "
                           "prefixed with its time, generation, slot, pid and stream.")
    logs.add_argument("app", help="the app whose logs to print")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines as they are written")
    logs.add_argument("--stderr", action="store_true", help="only stderr")
    logs.add_argument("-n", "--lines", type=int, default=20, metavar="N", help="start with the last N lines (20)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    app = getattr(args, "app", None)
    if args.command == "start" and app and (args.detach or args.listen):
        print("pysupervise: `start APP` starts an app of the running master; --detach and --listen start the "
              "master itself (pysupervise start --detach)", file=sys.stderr)
        return EXIT_USAGE
    try:
        config_path = Path(args.config) if args.config else find_config()
    except ConfigError as exc:
        print(f"pysupervise: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.config and config_path.parent != Path.cwd():
        # Found above the current folder: say which site this command is about.
        print(f"pysupervise: using {config_path}", file=sys.stderr)
    master_start = args.command == "start" and not app
    try:
        config = load_config(config_path, listen=getattr(args, "listen", None))
    except ConfigError as exc:
        print(f"pysupervise: {exc}", file=sys.stderr)
        if master_start:
            return EXIT_USAGE
        # The running master does not need a valid file to be reached: find its run_dir anyway.
        config = None
    if master_start:
        return start_detached(config, args.listen) if args.detach else start(config, args.listen)
    if args.command == "systemd-unit":
        if config is None:
            return EXIT_USAGE
        print(systemd_unit(config), end="")
        return EXIT_OK
    run_dir, log_dir = ((config.supervisor.run_dir, config.supervisor.log_dir) if config is not None
                        else locate_dirs(config_path))
    if args.command == "logs":
        return logs(log_dir, args.app, follow=args.follow, stderr_only=args.stderr, last=args.lines)
    client = ControlClient(run_dir / CONTROL_SOCKET_NAME)
    try:
        if args.command in ("stop", "drain"):
            return app_command(client, "stop", app, None) if app else stop(client, args.command)
        if args.command == "status":
            return status(client, as_json=args.json)
        if args.command == "reload":
            return reload(client, args.app)
        return app_command(client, args.command, app, getattr(args, "workers", None))
    except NotRunning as exc:
        print(f"pysupervise: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:
        print(f"pysupervise: cannot talk to the master: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def start(config: Config, listen: str | None) -> int:
    import uvloop

    from pysupervise.supervisor.master import Master, StartupError

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        return uvloop.run(Master(config, say, listen_override=listen).run())
    except StartupError as exc:
        print(f"pysupervise: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK


def start_detached(config: Config, listen: str | None) -> int:
    import os

    import uvloop

    from pysupervise.supervisor.master import Master, StartupError, StartupReport
    from pysupervise.supervisor.paths import SitePaths
    from pysupervise.supervisor.service.daemon import run_detached

    def run_master(say, report) -> int:
        def on_ready(started: StartupReport) -> None:
            if started.failed:
                lines = [f"app {name!r} failed to start: {why}" for name, why in started.failed]
                report(False, "\n".join(lines + ["the master keeps running: fix and save, or pysupervise stop"]))
            else:
                report(True, f"pysupervise is running in the background (pid {os.getpid()}); "
                             "stop it with: pysupervise stop")

        try:
            return uvloop.run(Master(config, say, listen_override=listen, on_ready=on_ready).run())
        except StartupError as exc:
            report(False, str(exc))
            return EXIT_FAILURE

    log = SitePaths(config.supervisor.run_dir, config.supervisor.log_dir).master_log
    return run_detached(log, run_master, lambda line: print(line, flush=True), config.logs.max_file_size)


def systemd_unit(config: Config) -> str:
    """A Type=notify unit: systemd learns readiness and stop progress from the master itself."""
    import getpass

    config_path = config.file
    stop_seconds = int(max((a.graceful_timeout for a in config.apps), default=30) + 15)
    return f"""[Unit]
Description=pysupervise site {config_path}
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
NotifyAccess=main
User={getpass.getuser()}
WorkingDirectory={config_path.parent}
ExecStart={sys.executable} -m pysupervise start -c {config_path}
ExecReload=/bin/kill -HUP $MAINPID
KillSignal=SIGTERM
# The master finishes requests in flight (graceful_timeout) before it stops its workers.
TimeoutStopSec={stop_seconds}
WatchdogSec=30
Restart=on-failure
RestartSec=2
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""


def stop(client: ControlClient, command: str = "stop") -> int:
    """`stop`, or `drain` (drain_timeout out of the balancer's rotation first); both wait for the end."""
    client.timeout = None  # a drain may take up to graceful_timeout
    for reply in client.stream(command):
        if reply.get("draining"):
            print(f"pysupervise: draining: the health page answers 503; requests are served for "
                  f"{reply['seconds_left']:g} s more, then the master stops...", flush=True)
        if reply.get("stopping"):
            print("pysupervise: stopping (finishing requests in flight)...", flush=True)
        if reply.get("stopped"):
            if reply.get("pid") and not wait_exited(reply["pid"], 30):
                print(f"pysupervise: the master (pid {reply['pid']}) has not exited", file=sys.stderr)
                return EXIT_FAILURE
            print(f"pysupervise: stopped in {reply['seconds']} s")
            return EXIT_OK
    print("pysupervise: the master went away before confirming it stopped", file=sys.stderr)
    return EXIT_FAILURE


def reload(client: ControlClient, app: str | None) -> int:
    client.timeout = None
    reply = client.call("reload", app=app)
    if "error" in reply:
        print(f"pysupervise: {reply['error']}", file=sys.stderr)
        return EXIT_USAGE if reply.get("usage", True) else EXIT_FAILURE
    if reply.get("config_error"):
        print(f"pysupervise: the config was not applied: {reply['config_error']}", file=sys.stderr)
    for result in reply["results"]:
        if result["ok"]:
            print(f"{result['app']}: now serving generation {result['generation']}")
        else:
            print(f"{result['app']}: reload failed, the previous generation keeps serving: {result['error']}")
    return EXIT_OK if reply["ok"] else EXIT_FAILURE


_APP_REQUESTS = {"restart": "restart", "stop": "stop-app", "start": "start-app", "scale": "scale", "swap": "swap"}


def app_command(client: ControlClient, command: str, app: str, workers: int | None) -> int:
    """`restart | stop | start | scale APP`: one request to the master, a line about what became of the app."""
    client.timeout = None  # a start waits for readiness, a stop for the drain
    reply = client.call(_APP_REQUESTS[command], app=app, **({"workers": workers} if command == "scale" else {}))
    if reply.get("not_saved"):
        undone = "undo the swap" if command == "swap" else f"start {app} again"
        print(f"pysupervise: {reply['not_saved']}; a master restart will {undone}", file=sys.stderr)
    if reply.get("late_fronts"):
        print(f"pysupervise: front process(es) {', '.join(map(str, reply['late_fronts']))} did not confirm the new "
              "routes in time (stuck?); each routes by them as soon as it runs again", file=sys.stderr)
    if not reply.get("ok"):
        error = reply.get("error") or "see pysupervise status and its events.log"
        if reply.get("usage"):
            print(f"pysupervise: {error}", file=sys.stderr)
            return EXIT_USAGE
        failed = {"restart": "restart failed, the previous generation keeps serving",
                  "start": "did not start; it is retried like any failed app (pysupervise status)"}.get(command)
        if command == "scale" and reply.get("not_started"):
            slots = ", ".join(str(slot) for slot in reply["not_started"])
            failed = f"{reply['workers']} workers, but slot(s) {slots} did not start; they are retried like " \
                     "crashed workers (pysupervise status)"
        print(f"{app}: {failed}: {error}" if failed else f"pysupervise: {error}", file=sys.stderr)
        return EXIT_FAILURE
    generation = reply.get("generation")
    if reply.get("already"):
        print(f"{app}: already stopped" if command == "stop" else
              f"{app}: already {reply.get('state')} (generation {generation})")
    elif command == "restart":
        print(f"{app}: now serving generation {generation}; the previous one drains")
    elif command == "stop":
        print(f"{app}: stopped; its routes answer 503 until `pysupervise start {app}`")
    elif command == "start":
        print(f"{app}: started, serving generation {generation}")
    elif command == "swap":
        print(f"{reply['app']}: production now runs from {reply['live_folder']} ({reply['live_side']}, generation "
              f"{generation}); {reply['staging_folder']} is staging at {reply['staging_at']}; swap again to roll back")
    else:
        print(f"{app}: {reply['workers']} workers (was {reply['before']}), generation {generation}")
    return EXIT_OK


def logs(log_dir: Path, app: str, *, follow: bool, stderr_only: bool, last: int) -> int:
    """Reads the log files directly: works with or without a running master."""
    from pysupervise.logs.follow import app_log_lines

    try:
        for line in app_log_lines(log_dir, app, stderr_only=stderr_only, last=last, follow=follow,
                                  colour=_use_colour()):
            print(line, flush=True)
    except FileNotFoundError as exc:
        print(f"pysupervise: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return EXIT_OK


def status(client: ControlClient, as_json: bool) -> int:
    reply = client.call("status")
    if as_json:
        print(json.dumps(reply, indent=2))
        return EXIT_OK
    print(f"pysupervise at {reply['url']} on host {reply.get('host_id')} (pid {reply.get('pid')})"
          + (f"; this host's admin address: {reply['admin_url']}" if reply.get("admin_url") else ""))
    health = reply.get("health") or {}
    if health and not health.get("ok"):
        left = health.get("drain_seconds_left")
        print(f"health page: 503 ({'; '.join(health.get('reasons') or [])})"
              + (f"; the master stops in {left:.0f} s" if left is not None else ""))
    print(format_status_table(reply["apps"], colour=_use_colour()))
    for app in reply["apps"]:
        if app.get("stopped_by_operator"):
            print(f"{app['app']}: stopped by the operator; `pysupervise start {app['app']}` starts it again")
        side = app.get("side") or {}
        if side.get("role") == "production":
            print(f"{side['app']}: live folder {side['live_folder']} ({app['app']}); staging folder "
                  f"{side['other_folder']} ({side['other']}, {side['other_state']})")
    if reply.get("config_error"):
        print(f"supervisor.toml was rejected, the site runs on the previous one: {reply['config_error']['error']}")
    return EXIT_OK


_STATE_COLOURS = {"ready": "32", "running": "32", "debug": "35", "starting": "33", "draining": "36",
                  "stopping": "36", "failed": "31", "exited": "31", "stopped": "33"}


def _use_colour() -> bool:
    import os

    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def format_status_table(apps: list[dict[str, Any]], colour: bool = False) -> str:
    header = ("APP", "ROUTE", "GEN", "SLOT", "PID", "STATE", "UPTIME", "REQUESTS", "RSS")
    rows: list[tuple[str, ...]] = []
    notes: list[str] = []
    for app in apps:
        route = ",".join(app["route"]) + (f" @{app['host']}" if app.get("host") else "")
        if not app["workers"]:
            rows.append((app["app"], route, "-", "-", "-", app["state"], "-", "-", "-"))
        for worker in app["workers"]:
            rows.append((app["app"], route, str(worker["generation"]), str(worker["slot"]), str(worker["pid"]),
                         worker["state"], _duration(worker["uptime"]), str(worker["requests"]),
                         _size(worker["rss"])))
        notes += _restart_notes(app)
        last = app.get("last_reload") or {}
        if last and not last.get("ok"):
            notes.append(f"{app['app']}: last reload (generation {last['generation']}) failed: {last['error']}")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    state_column = header.index("STATE")

    def cell(text: str, width: int, column: int, is_header: bool) -> str:
        padded = text.ljust(width)
        code = _STATE_COLOURS.get(text) if column == state_column and not is_header else None
        return f"\x1b[{code}m{padded}\x1b[0m" if colour and code else padded

    lines = ["  ".join(cell(c, w, i, row is header) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines + notes)


def _restart_notes(app: dict[str, Any]) -> list[str]:
    """A failed app's reason and next try, crash-looping slots, and the last exits."""
    import time

    name, notes = app["app"], []
    if app.get("failure"):
        notes.append(f"{name}: {app['state']}: {app['failure']}")
    if app.get("next_attempt"):
        notes.append(f"{name}: next automatic try in {max(0.0, app['next_attempt'] - time.time()):.0f} s "
                     f"(tries so far: {app.get('recovery_attempts', 0)}; a save or `pysupervise reload` tries now)")
    elif app["state"] == "failed":
        notes.append(f"{name}: trying again now (try {app.get('recovery_attempts', 0)})")
    for slot in app.get("slots") or []:
        if slot.get("crash_looping"):
            start = slot.get("next_start")
            wait = f", next start in {max(0.0, start - time.time()):.0f} s" if start else ""
            notes.append(f"{name}: slot {slot['slot']} is crash-looping ({slot['exits_in_window']} exits lately"
                         f"{wait}); last: {slot['last_exit']}")
    if app.get("failure") or any(s.get("crash_looping") for s in app.get("slots") or []):
        notes += [f"{name}:   exit of slot {e['slot']} at {time.strftime('%H:%M:%S', time.localtime(e['at']))}: "
                  f"{e['how']}" for e in app.get("last_exits") or []]
    return notes


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    return f"{value / (1024 * 1024):.1f}MiB"


if __name__ == "__main__":
    raise SystemExit(main())
