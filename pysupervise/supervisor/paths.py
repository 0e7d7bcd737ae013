"""Where things live under run_dir and log_dir; the one place that spells those paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SitePaths:
    run_dir: Path
    log_dir: Path

    @property
    def control_socket(self) -> Path:
        return self.run_dir / "control.sock"

    @property
    def bus_socket(self) -> Path:
        return self.run_dir / "bus.sock"

    @property
    def spill_dir(self) -> Path:
        return self.run_dir / "bodies"

    def app_run_dir(self, app: str) -> Path:
        return self.run_dir / app

    def worker_socket(self, app: str, generation: int, slot: int) -> Path:
        return self.run_dir / app / f"{generation}-{slot}.sock"

    def app_log_dir(self, app: str) -> Path:
        return self.log_dir / app
