"""Where things live under run_dir and log_dir; the one place that spells those paths."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path


CONTROL_SOCKET_NAME = "control.sock"
# What worker_socket() names, and nothing else: `<gen>-<slot>.sock` or `<gen>-<slot>.<n>.sock`.
_WORKER_SOCKET = re.compile(r"[0-9]+-[0-9]+(\.[0-9]+)?\.sock")


@dataclass(frozen=True)
class SitePaths:
    run_dir: Path
    log_dir: Path

    @property
    def control_socket(self) -> Path:
        return self.run_dir / CONTROL_SOCKET_NAME

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "pysupervise.pid"

    @property
    def master_log(self) -> Path:
        """Where a detached master writes what a foreground one prints."""
        return self.log_dir / "pysupervise.log"

    @property
    def stopped_apps(self) -> Path:
        """The apps an operator stopped (`pysupervise stop APP`), kept down across master restarts."""
        return self.run_dir / "stopped-apps.json"

    @property
    def swapped_apps(self) -> Path:
        """The apps whose staging folder serves production (`pysupervise swap APP`), kept across master restarts."""
        return self.run_dir / "swapped-apps.json"

    @property
    def admin_socket(self) -> Path:
        return self.run_dir / "admin.sock"

    @property
    def bus_socket(self) -> Path:
        return self.run_dir / "bus.sock"

    @property
    def spill_dir(self) -> Path:
        return self.run_dir / "bodies"

    @property
    def worker_runtime_dir(self) -> Path:
        """Links that make pysupervise's worker runtime importable by an app's own Python (`python = ...`);
        the leading "_" keeps it apart from app folders, whose names cannot start with one."""
        return self.run_dir / "_worker_runtime"

    def app_run_dir(self, app: str) -> Path:
        return self.run_dir / app

    def worker_socket(self, app: str, generation: int, slot: int, instance: int = 0) -> Path:
        """`<gen>-<slot>.sock`; a replacement started while its predecessor still drains gets `.<n>`."""
        suffix = f".{instance}" if instance else ""
        return self.run_dir / app / f"{generation}-{slot}{suffix}.sock"

    def worker_sockets(self) -> list[Path]:
        """Every worker socket under run_dir's app folders (a SIGKILLed master leaves them behind)."""
        found = []
        try:
            folders = [entry for entry in self.run_dir.iterdir() if entry.is_dir() and not entry.is_symlink()]
        except OSError:
            return []
        for folder in folders:
            try:
                entries = list(folder.iterdir())
            except OSError:
                continue
            for entry in entries:
                try:
                    is_socket = stat.S_ISSOCK(entry.lstat().st_mode)
                except OSError:
                    continue
                if is_socket and _WORKER_SOCKET.fullmatch(entry.name):
                    found.append(entry)
        return found

    def remove_stale_worker_sockets(self) -> list[str]:
        """Remove the worker sockets a SIGKILLed master left (the caller holds the pidfile, so none is in use);
        what could not be removed, one line each."""
        problems = []
        for path in self.worker_sockets():
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                problems.append(f"cannot remove the stale socket {path}: {exc.strerror or exc}")
        return problems

    def app_log_dir(self, app: str) -> Path:
        return self.log_dir / app
