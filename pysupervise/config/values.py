"""Parsers that turn one raw TOML value into a typed setting, or raise a ConfigError naming its key."""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pysupervise.app_target import AppTargetError, parse_app_target
from pysupervise.config.errors import ConfigError


@dataclass(frozen=True)
class Where:
    """The place a value came from: the file, its key path and the folder relative paths start in."""

    file: str
    key_path: str
    base_dir: Path

    def child(self, key: str) -> "Where":
        return Where(self.file, f"{self.key_path}.{key}" if self.key_path else key, self.base_dir)

    def error(self, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key_path, problem)


Parser = Callable[[Any, Where], Any]


def shown(value: Any) -> str:
    """How a bad value is quoted back to the user, TOML-style."""
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def boolean(value: Any, where: Where) -> bool:
    if not isinstance(value, bool):
        raise where.error(f"expected true or false, got {shown(value)}")
    return value


def positive_int(value: Any, where: Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.error(f"expected a positive integer, got {shown(value)}")
    return value


def non_negative_int(value: Any, where: Where) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise where.error(f"expected an integer >= 0, got {shown(value)}")
    return value


def positive_int_or_auto(value: Any, where: Where) -> int | None:
    """`"auto"` (None) leaves the number to be decided from other keys (see the key's doc)."""
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.error(f'expected a positive integer or "auto", got {shown(value)}')
    return value


def worker_count(value: Any, where: Where) -> int:
    """`"auto"` means one worker per CPU core this process may run on."""
    if value == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.error(f'expected a positive integer or "auto", got {shown(value)}')
    return value


def proxy_process_count(value: Any, where: Where) -> int:
    """`"auto"`: one front process per 4 cores this process may run on (at least one). One front serves about
    as many hello-world requests as 3 to 4 cores of Python workers produce (README: where the front saturates)."""
    if value == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, cores // 4)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise where.error(f'expected a positive integer or "auto", got {shown(value)}')
    return value


def seconds(value: Any, where: Where) -> float:
    """A duration in seconds: a positive number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise where.error(f"expected a number of seconds > 0, got {shown(value)}")
    return float(value)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1024, "KI": 1024, "M": 1000**2, "MB": 1000**2,
         "MIB": 1024**2, "MI": 1024**2, "G": 1000**3, "GB": 1000**3, "GIB": 1024**3, "GI": 1024**3,
         "T": 1000**4, "TB": 1000**4, "TIB": 1024**4, "TI": 1024**4}


def byte_size(value: Any, where: Where) -> int:
    """A size in bytes: an integer, or a string such as "64KiB", "1 MiB", "100MB"."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match and match.group(2).upper() in _UNIT:
            return int(float(match.group(1)) * _UNIT[match.group(2).upper()])
    raise where.error(f'expected a size in bytes (an integer, or a string like "64KiB" or "1MiB"), got {shown(value)}')


def text(value: Any, where: Where) -> str:
    if not isinstance(value, str):
        raise where.error(f"expected a string, got {shown(value)}")
    return value


def optional_text(value: Any, where: Where) -> str | None:
    return None if value == "" else text(value, where)


def string_list(value: Any, where: Where) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise where.error(f"expected a list of non-empty strings, got {shown(value)}")
    return tuple(value)


def listen_address(value: Any, where: Where) -> "ListenAddress":
    """`"HOST:PORT"`; IPv6 hosts in brackets (`"[::1]:8080"`); port 0 picks a free port."""
    if not isinstance(value, str):
        raise where.error(f'expected "HOST:PORT", got {shown(value)}')
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise where.error(f'expected "HOST:PORT" (e.g. "127.0.0.1:8080"), got {shown(value)}')
    return ListenAddress(host, int(port))


@dataclass(frozen=True)
class ListenAddress:
    """Where the front proxy accepts TCP connections."""

    host: str
    port: int

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port if port is None else port}"


AUTO = "auto"


def admin_listen_address(value: Any, where: Where) -> "ListenAddress | str | None":
    """`"auto"` (decided once `listen` is bound), `""` for none, or `"HOST:PORT"`."""
    if value == AUTO:
        return AUTO
    if value == "":
        return None
    return listen_address(value, where)


_HOST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def host_id(value: Any, where: Where) -> str:
    """This host's name in headers, logs and metric labels: `""` is the machine's hostname."""
    raw = text(value, where)
    if raw == "":
        # A hostname may hold characters that do not belong in a header or a label: those become "-".
        return re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:63].lstrip("._-") or "localhost"
    if not _HOST_ID.match(raw):
        raise where.error(f"expected up to 63 letters, digits, '.', '_' or '-' (not first), got {shown(raw)}")
    return raw


def directory(value: Any, where: Where) -> Path:
    """A folder, relative to the config file's folder; created later if missing."""
    raw = text(value, where)
    if not raw:
        raise where.error("expected a folder path, got an empty string")
    return (where.base_dir / os.path.expanduser(raw)).resolve()


def existing_directory(value: Any, where: Where) -> Path:
    path = directory(value, where)
    if not path.is_dir():
        raise where.error(f"{path} is not an existing folder")
    return path


def networks(value: Any, where: Where) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Client addresses as CIDR blocks; a bare address is a block of one."""
    result = []
    for item in string_list(value, where) if value != [] else ():
        try:
            result.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise where.error(f"expected IP addresses or CIDR blocks, got {shown(item)}") from None
    return tuple(result)


_HOST_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?$")


def host_names(value: Any, where: Where) -> tuple[str, ...]:
    """DNS names as clients type them in URLs, without a port; compared case-insensitively."""
    result = []
    for item in string_list(value, where) if value != [] else ():
        name = item.lower()
        if len(name) > 253 or not _HOST_NAME.match(name):
            raise where.error(f'expected host names without a port (e.g. "site.example"), got {shown(item)}')
        result.append(name.rstrip("."))
    return tuple(result)


def import_target(value: Any, where: Where) -> str:
    """`"package.module:attribute"` (the attribute possibly dotted), or gunicorn's `"module:factory(args)"`."""
    raw = text(value, where)
    try:
        parse_app_target(raw)
    except AppTargetError as exc:
        raise where.error(f"{exc}; got {shown(raw)}") from None
    return raw


def command_line(value: Any, where: Where) -> tuple[str, ...]:
    """A program and its arguments: an array, or a string split like a shell would."""
    if isinstance(value, str):
        try:
            value = shlex.split(value)
        except ValueError as exc:
            raise where.error(f"cannot split command string: {exc}") from None
    argv = string_list(value, where)
    if not argv:
        raise where.error("expected a program and its arguments, got an empty list")
    return argv


def interpreter(value: Any, where: Where) -> str:
    """A program path or a bare name; the loader resolves it against the app's `dir` or PATH and checks it."""
    raw = text(value, where)
    if not raw.strip() or "\0" in raw:
        raise where.error(f'expected the path of a Python interpreter (e.g. ".venv/bin/python"), got {shown(raw)}')
    return raw


def one_of(*choices: str) -> Parser:
    def parse(value: Any, where: Where) -> str:
        if value not in choices:
            listed = ", ".join(f'"{c}"' for c in choices)
            raise where.error(f"expected one of {listed}, got {shown(value)}")
        return value

    return parse


def url_prefix(value: Any, where: Where) -> str:
    """A URL path prefix: starts with "/", matched on whole path segments; a trailing "/" is dropped."""
    raw = text(value, where)
    if not raw.startswith("/") or "?" in raw or "#" in raw or any(c.isspace() for c in raw):
        raise where.error(f'expected a URL path starting with "/", got {shown(raw)}')
    return raw.rstrip("/") or "/"


def ready_path(value: Any, where: Where) -> str | None:
    """A URL path (query allowed) that a new worker must answer below 500; "" or false: no probe."""
    if value == "" or value is False:
        return None
    raw = text(value, where)
    if not raw.startswith("/") or "#" in raw or any(c.isspace() or ord(c) < 32 or ord(c) > 126 for c in raw):
        raise where.error(f'expected a URL path starting with "/" (or "" for no probe), got {shown(raw)}')
    return raw


def url_prefixes(value: Any, where: Where) -> tuple[str, ...]:
    prefixes = tuple(url_prefix(item, where) for item in string_list(value, where))
    if not prefixes:
        raise where.error("expected at least one URL prefix")
    return prefixes


def environment(value: Any, where: Where) -> tuple[tuple[str, str], ...]:
    """Environment variables for workers; numbers are written as strings, "" is a defined empty value."""
    if not isinstance(value, dict):
        raise where.error(f"expected a table of NAME = \"value\", got {shown(value)}")
    result = []
    for name, raw in value.items():
        if not name or "=" in name or "\0" in name:
            raise where.child(name).error("not a valid environment variable name")
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise where.child(name).error(f"expected a string, got {shown(raw)}")
        result.append((name, str(raw)))
    return tuple(result)


def static_folders(value: Any, where: Where) -> tuple[tuple[str, str], ...]:
    """`{ "/static/" = "public/" }`: URL prefix → folder; folders are resolved against the app's `dir` later."""
    if not isinstance(value, dict):
        raise where.error(f'expected a table of "/url/prefix/" = "folder", got {shown(value)}')
    return tuple((url_prefix(prefix, where.child(prefix)), text(folder, where.child(prefix)))
                 for prefix, folder in value.items())


def service_url(value: Any, where: Where) -> str:
    """`"embedded"` (the broker inside the master) or a Redis URL (redis://, rediss://, unix://)."""
    import urllib.parse

    raw = text(value, where)
    if raw == "embedded":
        return raw
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise where.error(f'expected "embedded" or a Redis URL such as "redis://127.0.0.1:6379/0", got {shown(raw)}')
    return raw


def optional_service_url(value: Any, where: Where) -> str | None:
    return None if value == "" else service_url(value, where)


def url_segment(value: Any, where: Where) -> str:
    """One path segment, as in /<app>/<segment>: letters, digits, '-', '_' and '.'."""
    raw = text(value, where)
    if not re.match(r"^[A-Za-z0-9._-]+$", raw) or raw in (".", ".."):
        raise where.error(f"expected one URL path segment (letters, digits, '-', '_', '.'), got {shown(raw)}")
    return raw
