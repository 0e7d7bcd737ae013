"""The configuration as frozen dataclasses; each field's metadata holds its parser, default and doc."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

from pysupervise.config import values as v
from pysupervise.config.values import ListenAddress

KIB = 1024
MIB = 1024 * 1024
# Requests in flight per worker of an app that handles them on an event loop (aiohttp, ASGI, `command`).
DEFAULT_REQUEST_SLOTS = 100
# An app reloads on code, templates and config next to it; never on what apps write while running (sqlite
# databases, logs, uploads, *.json data), or a running app would reload itself. The watcher skips .venv,
# node_modules, .git and __pycache__ whatever the globs say, so a `pip install` into the app's venv is no save.
DEFAULT_WATCH = ["**/*.py", "**/*.html", "**/*.jinja", "**/*.jinja2", "**/*.j2", "**/*.toml", "**/*.ini",
                 "**/*.cfg", "**/*.yaml", "**/*.yml", "**/.env"]


def setting(parser: v.Parser, default: Any, doc: str) -> Any:
    """A config key: the TOML default is run through the same parser as a user's value."""
    return field(metadata={"parser": parser, "default": default, "doc": doc})


def settings_of(cls: type) -> Iterator[tuple[str, v.Parser, Any, str]]:
    """(key, parser, raw default, doc) for every user-facing key of a section class."""
    for f in fields(cls):
        if "parser" in f.metadata:
            yield f.name, f.metadata["parser"], f.metadata["default"], f.metadata["doc"]


@dataclass(frozen=True)
class SupervisorSettings:
    listen: ListenAddress = setting(v.listen_address, "127.0.0.1:8080",
                                    'Where the front proxy listens, "HOST:PORT"; port 0 picks a free port.')
    run_dir: Path = setting(v.directory, ".pysupervise/run",
                            "Worker sockets, the control socket and the pidfile.")
    log_dir: Path = setting(v.directory, ".pysupervise/logs", "Per-app logs go to <log_dir>/<app>/.")
    admin_listen: ListenAddress | str | None = setting(
        v.admin_listen_address, "auto", 'A second address the proxy listens on, so the host itself reaches its '
        'admin pages when `listen` is a specific non-loopback address: "auto" = 127.0.0.1 on listen\'s port '
        '(another port if that one is taken), only in that case; "HOST:PORT"; "" = none.')
    host_id: str = setting(v.host_id, "", "This host's name in X-Pysupervise-Worker, events.log, status, metric "
                           "labels, the health page and PYSUPERVISE_HOST; \"\" = the machine's hostname.")
    drain_timeout: float = setting(v.seconds, 30, "`pysupervise drain` (or SIGUSR2): the health page answers 503 "
                                   "at once, everything is served this long more (a balancer's check interval "
                                   "times its failure threshold, plus a margin), then the master stops gracefully.")


@dataclass(frozen=True)
class AdminSettings:
    allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = setting(
        v.networks, ["127.0.0.1/8", "::1"], "Client addresses that may open the admin pages.")
    token_env: str | None = setting(
        v.optional_text, "PYSUPERVISE_ADMIN_TOKEN",
        "Environment variable holding a token that lets other clients in; the master removes it from the "
        "environment its workers inherit.")
    hosts: tuple[str, ...] = setting(
        v.host_names, [], "Host names the admin pages answer to, besides localhost, IP literals and the listen host "
        "(requests naming any other host get 404: DNS rebinding).")
    logs_segment: str = setting(v.url_segment, "logs", "The log browser lives at /<app>/<logs_segment>.")
    status_segment: str = setting(v.url_segment, "status", "The status page lives at /<app>/<status_segment>.")
    debug_segment: str = setting(v.url_segment, "debug", "The debugger lives at /<app>/<debug_segment>.")
    index_path: str = setting(v.url_prefix, "/_pysupervise", "The admin index of all apps; each app's status page "
                              "is also at <index_path>/<app>/.")
    health_path: str = setting(v.url_prefix, "/_pysupervise/health", "The load balancers' health page: 200 while "
                               "every app has ready workers and the bus answers, 503 with the reasons otherwise.")
    health_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = setting(
        v.networks, ["0.0.0.0/0", "::/0"], "Client addresses that get the health page (and no other admin page; "
        "admin clients get it too). Others get the app's own page at that URL.")
    debug_idle_timeout: float = setting(v.seconds, 900, "A debug session with no activity for this long detaches.")

    def segments(self, app: "AppConfig | None" = None) -> "AdminSegments":
        """Where `app`'s admin pages live: its own `*_segment` keys, else these."""
        return AdminSegments(logs=(app and app.logs_segment) or self.logs_segment,
                             status=(app and app.status_segment) or self.status_segment,
                             debug=(app and app.debug_segment) or self.debug_segment)

    def app_pages(self, app: "AppConfig") -> tuple[str, ...]:
        """The URL prefixes of the app's admin pages; the debugger's only with debug = true (else it is the app's)."""
        segments = self.segments(app)
        chosen = (segments.logs, segments.status, *([segments.debug] if app.debug else []))
        return tuple(f"/{app.name}/{segment}" for segment in chosen)

    def status_home(self, app_name: str) -> str:
        """The app's status page under the index, at a URL no app route can claim for admin clients."""
        return f"{self.index_path.rstrip('/')}/{app_name}/"


@dataclass(frozen=True)
class AdminSegments:
    """One app's admin pages: /<app>/<logs>, /<app>/<status>, /<app>/<debug> (served only to admin clients)."""

    logs: str
    status: str
    debug: str

    def kind_of(self, segment: str) -> str | None:
        """Which page `segment` names ("logs", "status", "debug"), or None."""
        return {self.logs: "logs", self.status: "status", self.debug: "debug"}.get(segment)


@dataclass(frozen=True)
class LogSettings:
    max_file_size: int = setting(v.byte_size, "1MiB", "A worker's log file rolls over to a new file past this size.")
    max_total_size: int = setting(v.byte_size, "64MiB", "Oldest log files of an app are deleted beyond this total.")
    max_files: int = setting(v.positive_int, 100, "Oldest log files of an app are deleted beyond this count.")


@dataclass(frozen=True)
class ProxySettings:
    max_header_size: int = setting(v.byte_size, "64KiB", "Request line + headers larger than this get 431.")
    max_header_count: int = setting(v.positive_int, 100, "Requests with more header fields than this get 431 "
                                    "(as gunicorn's limit_request_fields and Apache's LimitRequestFields).")
    max_body_size: int = setting(v.byte_size, "100MiB", "Request bodies larger than this get 413.")
    # 16 MiB: a spilled body costs the master about half as much again per byte (its file is written, then mapped
    # to be sent), and buffer_memory_total bounds what all bodies together hold, however large this is.
    buffer_memory_max: int = setting(v.byte_size, "16MiB", "Request bodies larger than this spill to a file in "
                                     "run_dir.")
    response_buffer_max: int = setting(v.byte_size, "1MiB", "Response bytes read ahead of a slow client and held "
                                       "in memory; more spill to a file in run_dir.")
    response_spill_max: int = setting(v.byte_size, "1GiB", "Response bytes per client spilled to a file beyond "
                                      "response_buffer_max; past it the worker waits for the client. 0 = never spill.")
    buffer_memory_total: int = setting(v.byte_size, "256MiB", "Request bodies and response bytes held in memory by "
                                       "one front process over all its clients; past it they spill to files at once, "
                                       "so a flood of slow clients cannot take the master's memory.")
    header_timeout: float = setting(v.seconds, 10, "A client must send a complete request head within this, or 408.")
    body_timeout: float = setting(v.seconds, 60, "Longest pause between two pieces of a request body, or 408.")
    send_timeout: float = setting(v.seconds, 60, "A client that accepts none of the response's bytes for this "
                                  "long is disconnected (nginx's send_timeout).")
    keepalive_timeout: float = setting(v.seconds, 75, "Idle client keep-alive connections are closed after this.")
    upstream_idle_timeout: float = setting(v.seconds, 4, "Idle pooled worker connections are closed after this "
                                           "(below common 5 s server keep-alives, so a worker never closes one first).")
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = setting(
        v.networks, [], "Proxies (addresses, CIDR blocks) whose X-Forwarded-For/-Proto/-Host are believed; the "
        "client is the first address from the right that is not one of them.")
    max_connections: int = setting(v.positive_int, 4096, "At this many client connections the oldest idle one is "
                                   "closed to admit a new client; if all are busy, new ones wait in the backlog.")
    dev_errors: bool = setting(v.boolean, True,
                               "Error pages for loopback clients show the worker's last stderr lines.")
    underscores_in_headers: bool = setting(v.boolean, False, "Pass request headers with `_` in their names on to "
                                           "the workers (nginx's underscores_in_headers); off, they are dropped. "
                                           "On, one that reads as a header the proxy sets or acts on when `_` is "
                                           "read as `-` (X_Forwarded_For, X_Request_Id, Script_Name, ...) is still "
                                           "dropped: CGI and WSGI spell the two alike.")
    processes: int = setting(v.proxy_process_count, 1, 'Front (proxy) processes accepting on the listen address '
                             '(SO_REUSEPORT), the master being one of them; each has its own share of every '
                             'worker\'s slots, home workers it sends its requests to, its own queue and '
                             'max_connections. "auto" = one per 4 cores. '
                             'Changing it needs a master restart.')
    front_hang_timeout: float = setting(v.seconds, 10, "Seconds a front process (`processes` > 1) may leave the "
                                        "master's pings unanswered (its event loop blocked or stopped) before it "
                                        "is killed and started again; the clients waiting in its backlog are then "
                                        "served by the new one.")


@dataclass(frozen=True)
class ServicesSettings:
    bus: str = setting(v.service_url, "embedded",
                       'The message bus for hosted apps: "embedded" (in the master) or a Redis URL.')
    cache: str | None = setting(v.optional_service_url, "",
                                'The cache for hosted apps; empty means the same as `bus`.')
    max_waiting: int = setting(v.positive_int, 10000, "Messages a durable subscription keeps before it drops "
                               "the oldest (embedded bus).")

    @property
    def cache_or_bus(self) -> str:
        return self.cache or self.bus


# The staging folder of app NAME is hosted as one more app, NAME~staging ("~" is never part of an app's name).
STAGING_SUFFIX = "~staging"


def staging_name(app: str) -> str:
    return app + STAGING_SUFFIX


@dataclass(frozen=True)
class StagingSlot:
    """`staging = { dir = ..., route = ..., host = ... }` of an app: the same app run from a second folder."""

    dir: Path = setting(v.existing_directory, None, "The second folder (relative to supervisor.toml's folder).")
    route: tuple[str, ...] | None = setting(v.url_prefixes, None, "Where the staging side answers (default: the "
                                            "app's route, on `host`).")
    host: str | None = setting(v.optional_text, None, "Only requests with this Host reach the staging side "
                               "(default: the app's host).")


def staging_slot(value: Any, where: v.Where) -> StagingSlot:
    """An inline table with `dir` and at least one of `route` and `host`."""
    if not isinstance(value, dict):
        raise where.error('expected an inline table such as { dir = "../shop-next", route = "/shop-staging" }, '
                          f"got {v.shown(value)}")
    parsers = {key: parser for key, parser, _default, _doc in settings_of(StagingSlot)}
    for key in value:
        if key not in parsers:
            raise where.child(key).error(f"unknown key (known keys: {', '.join(parsers)})")
    if "dir" not in value:
        raise where.child("dir").error("missing: the folder the staging side runs from")
    slot = StagingSlot(**{key: parser(value[key], where.child(key)) if key in value else None
                          for key, parser in parsers.items()})
    if slot.route is None and slot.host is None:
        raise where.error("set `route`, `host` or both: the staging side needs a URL of its own")
    return slot


@dataclass(frozen=True)
class AppConfig:
    name: str = field(metadata={"internal": True})
    app: str | None = setting(v.import_target, None,
                              '"module:attribute": an aiohttp, ASGI or WSGI app, or a factory of one (sync or '
                              'async); "module:create_app()" (literal arguments allowed) calls it, as gunicorn does.')
    command: tuple[str, ...] | None = setting(v.command_line, None,
                                              "Or any program that listens on the Unix socket in $PORT; "
                                              "`{socket}` (or `$PORT`) in its arguments becomes that path.")
    python: str | None = setting(v.interpreter, None, "The app's own Python (typically its venv's `.venv/bin/python`; "
                                 "relative to `dir`, or a name looked up on PATH): `app` workers run under it, and "
                                 "`command` apps find its folder first on PATH. 3.11 or newer.")
    interface: str = setting(v.one_of("auto", "aiohttp", "asgi", "wsgi"), "auto",
                             "How to serve `app`; auto-detected by default.")
    dir: Path = setting(v.existing_directory, ".", "Working directory and first sys.path entry.")
    route: tuple[str, ...] = setting(v.url_prefixes, "/",
                                     "URL prefix (or list of prefixes) routed to this app; longest wins.")
    host: str | None = setting(v.optional_text, "", "Only requests with this Host header match, if set.")
    mount_prefix: bool = setting(v.boolean, True, "Tell the app the route it is mounted at: WSGI SCRIPT_NAME, ASGI "
                                 "root_path, an X-Forwarded-Prefix header (and SCRIPT_NAME in the environment of a "
                                 "`command` with one route). false passes URLs unchanged with no prefix, as before.")
    workers: int = setting(v.worker_count, "auto", 'Worker processes; "auto" = one per CPU core.')
    watch: tuple[str, ...] = setting(v.string_list, DEFAULT_WATCH, "Globs under `dir` whose changes reload the "
                                     "app. The default takes code, templates and config files, and none of what "
                                     "apps write as they run (databases, logs, uploads, JSON data).")
    cpu_scheduling: str = setting(v.one_of("batch", "normal"), "batch",
                                  'Linux CPU scheduling policy of the workers (as systemd\'s CPUSchedulingPolicy). '
                                  '"batch" (SCHED_BATCH): a worker woken by a request does not preempt what runs on '
                                  "its core, usually the proxy in the middle of handing out a burst of requests; it "
                                  "runs when that sleeps or its time slice ends, and gets its fair share of the CPU "
                                  "as before (on a loaded 2-core box, 3 to 5% more hello-world requests/s). "
                                  '"normal" (SCHED_OTHER) lets a woken worker preempt at once.')
    threads: int = setting(v.positive_int, 10, "WSGI apps: threads per worker running the app's handlers. 10 is the "
                           "pool uvicorn and a2wsgi have always used here; raise it for handlers that mostly wait "
                           "(I/O), keep it low for CPU-bound ones (the GIL runs one thread at a time).")
    max_concurrent_requests: int | None = setting(
        v.positive_int_or_auto, "auto", 'Requests in flight per worker; more wait in the app\'s queue. "auto": '
        "`threads` for WSGI apps (so the wait is in the proxy's queue, visible in status and metrics), 100 for others.")
    queue_limit: int = setting(v.non_negative_int, 1000, "Requests waiting per app; beyond that, 503.")
    queue_timeout: float = setting(v.seconds, 30, "Seconds a request may wait for a worker before 503.")
    graceful_timeout: float = setting(v.seconds, 30, "Seconds old workers may drain before SIGKILL.")
    start_timeout: float = setting(v.seconds, 30, "Seconds a new worker has to become ready (accept on its socket, "
                                   "and answer `ready_path`).")
    ready_path: str | None = setting(v.ready_path, None, 'URL path every new worker must answer below 500 before '
                                     'it gets traffic. Default: "/" for `command` apps; none for `app` apps (they '
                                     'listen only once the app is loaded). "" turns the probe off.')
    upstream_timeout: float = setting(v.seconds, 60, "Seconds a worker has to start its response before 504 "
                                      "(counted from when it last took some of the request's body), and the "
                                      "longest it may then pause in the middle of it before the client's "
                                      "connection is closed (nginx's proxy_read_timeout); event streams may "
                                      "pause for as long as they like.")
    hang_timeout: float = setting(v.seconds, 60, "Seconds an `app` worker's event loop may stay blocked, or its "
                                  "control thread silent, before it is killed as hung (see Hung workers).")
    max_requests: int = setting(v.non_negative_int, 0, "Replace a worker (new one first) after this many "
                                "requests; 0 = never.")
    max_requests_jitter: int = setting(v.non_negative_int, 0, "Random extra requests (0..jitter) per worker, so "
                                       "workers do not all recycle at once.")
    max_memory: int = setting(v.byte_size, 0, "Replace a worker (new one first) whose RSS passes this; 0 = never.")
    max_restarts: int = setting(v.positive_int, 10, "Exits of one worker slot allowed within restart_window; "
                                "beyond them the slot is crash-looping, and the app failed once every slot is.")
    restart_window: float = setting(v.seconds, 60, "Seconds over which max_restarts is counted.")
    recovery_delay: float = setting(v.seconds, 30, "A failed app, or a crash-looping slot, is retried by itself "
                                    "after this; the wait doubles after each failed try.")
    recovery_delay_max: float = setting(v.seconds, 300, "The longest wait between two retries of a failed app "
                                        "or slot.")
    sticky: bool = setting(v.boolean, False, "Pin each client to a worker slot with a cookie.")
    static: tuple[tuple[str, Path], ...] = setting(
        v.static_folders, {}, 'URL prefix → folder under `dir`, served by the proxy itself, e.g. { "/static/" = "public/" }.')
    access_log: bool = setting(v.boolean, True, "Write <log_dir>/<app>/access.log, one line per request.")
    debug: bool = setting(v.boolean, True, "Serve the debugger at /<app>/debug; false passes that URL to the app.")
    logs_segment: str | None = setting(v.url_segment, None, "This app's log browser at /<app>/<logs_segment> "
                                       "(default: [admin] logs_segment).")
    status_segment: str | None = setting(v.url_segment, None, "This app's status page at /<app>/<status_segment> "
                                         "(default: [admin] status_segment); also at <index_path>/<app>/.")
    debug_segment: str | None = setting(v.url_segment, None, "This app's debugger at /<app>/<debug_segment> "
                                        "(default: [admin] debug_segment).")
    debug_header: bool = setting(v.boolean, False, "Add X-Pysupervise-Worker: <host_id>/<app>/<generation>/<slot> to "
                                 "responses.")
    env: tuple[tuple[str, str], ...] = setting(v.environment, {}, "Extra environment variables for workers.")
    staging: StagingSlot | None = setting(
        staging_slot, None, 'A second folder of the same app, e.g. { dir = "../shop-next", route = "/shop-staging" } '
        '(or host = "staging.example"): its own workers and logs, hosted as the app NAME~staging; `pysupervise swap '
        'NAME` exchanges which folder serves production.')
    # Set by the loader on NAME~staging: the app it is the staging folder of (its workers' PYSUPERVISE_APP).
    staging_of: str | None = field(default=None, metadata={"internal": True})

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def command_script_name(self) -> str | None:
        """SCRIPT_NAME in a `command` worker's environment: its one route below /, with mount_prefix on."""
        if self.command is None or not self.mount_prefix or len(self.route) != 1 or self.route[0] == "/":
            return None
        return self.route[0]

    def request_slots(self, served_as: str | None = None) -> int:
        """Requests in flight per worker: the explicit `max_concurrent_requests`, else `threads` for a WSGI app
        (`served_as` is what the worker runtime detected, for `interface = "auto"`), else 100."""
        if self.max_concurrent_requests is not None:
            return self.max_concurrent_requests
        if self.command is None and (served_as or self.interface) == "wsgi":
            return self.threads
        return DEFAULT_REQUEST_SLOTS


@dataclass(frozen=True)
class Config:
    """A whole supervisor.toml, validated."""

    file: Path
    supervisor: SupervisorSettings
    admin: AdminSettings
    proxy: ProxySettings
    logs: LogSettings
    services: ServicesSettings
    apps: tuple[AppConfig, ...]

    def app(self, name: str) -> AppConfig | None:
        return next((a for a in self.apps if a.name == name), None)


SECTIONS: dict[str, type] = {"supervisor": SupervisorSettings, "admin": AdminSettings, "proxy": ProxySettings,
                             "logs": LogSettings, "services": ServicesSettings}
