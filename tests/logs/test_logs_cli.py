"""`pysupervise logs APP` on a real site: workers' lines merged in the order the master read them, with time,
generation, slot, pid and stream; old generations marked; -f follows a reload (issue 16 §6)."""

from __future__ import annotations

import subprocess
import sys
import threading

from tests.logs.printed import parse
from tests.support.poll import wait_until
from tests.support.site import Site

APP = """
[apps.web]
app = "printer:create_app"
dir = "{apps}"
route = "/"
workers = 2
"""


def print_through(site: Site, text: str, stream: str = "stdout") -> dict:
    response = site.get(f"/print?text={text}&stream={stream}")
    assert response.status == 200, response.text
    return response.json()


def printed_lines(site: Site, *args: str) -> list:
    result = site.cli("logs", "web", *args)
    assert result.returncode == 0, result.stderr
    return [parse(line) for line in result.stdout.splitlines()]


class Follower:
    """`pysupervise logs web -f` as a user runs it; always stopped by the test."""

    def __init__(self, site: Site) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pysupervise", "logs", "web", "-f", "-n", "0", "-c", str(site.config_path)],
            cwd=site.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self._reader.join(5)


def test_two_workers_lines_come_merged_in_the_order_they_were_printed(make_site):
    site = make_site(APP)
    printed: list[tuple[int, int, str, str]] = []  # (pid, slot, stream, text) in the order they were printed

    def alternated() -> bool:
        number = len(printed)
        stream = "stderr" if number % 3 == 2 else "stdout"
        who = print_through(site, f"line-{number:02d}", stream)
        printed.append((who["pid"], who["slot"], stream, f"line-{number:02d}"))
        switches = sum(1 for a, b in zip(printed, printed[1:]) if a[0] != b[0])
        return len(printed) >= 12 and switches >= 4

    # The proxy takes turns between idle workers; keep printing until both have printed, alternately.
    wait_until(alternated, 30, "both workers to print, alternately")
    wait_until(lambda: len(printed_lines(site, "-n", "100")) == len(printed), 10, "every line in the logs")
    lines = printed_lines(site, "-n", "100")
    assert [(p.pid, p.slot, p.stream, p.text) for p in lines] == printed
    assert all(p.generation == "1" and not p.old and p.exact for p in lines)
    assert [p.time for p in lines] == sorted(p.time for p in lines)
    assert [p.text for p in printed_lines(site, "-n", "3")] == [text for *_, text in printed[-3:]]
    assert all(p.stream == "stderr" for p in printed_lines(site, "--stderr"))
    # The files keep exactly the bytes each worker wrote; the times live beside them.
    folder = site.log_dir / "web"
    for pid, slot, stream in {(pid, slot, stream) for pid, slot, stream, _text in printed}:
        expected = "".join(f"{text}\n" for p, _s, st, text in printed if (p, st) == (pid, stream))
        files = sorted(folder.glob(f"{slot}-{pid}-{stream}-*.log"))
        assert "".join(f.read_text() for f in files) == expected
        assert all((f.parent / (f.name + ".times")).exists() for f in files)


def test_after_a_restart_old_lines_are_marked_and_follow_sees_the_new_generation(make_site):
    site = make_site(APP)
    first = print_through(site, "from-generation-1")
    follower = Follower(site)
    try:
        restarted = site.cli("restart", "web")
        assert restarted.returncode == 0 and "generation 2" in restarted.stdout, restarted.stdout + restarted.stderr
        second = print_through(site, "from-generation-2", "stderr")
        assert (first["generation"], second["generation"]) == (1, 2)

        def followed() -> list:
            return [parse(line) for line in follower.lines if "from-generation-2" in line]

        line = wait_until(followed, 15, "the follower to print the new generation's line",
                          diagnostics=lambda: "\n".join(follower.lines))[0]
        assert (line.generation, line.old, line.pid, line.stream) == ("2", False, second["pid"], "stderr")
    finally:
        follower.stop()
    lines = {p.text: p for p in printed_lines(site, "-n", "100")}
    old, new = lines["from-generation-1"], lines["from-generation-2"]
    assert (old.generation, old.old, old.pid) == ("1", True, first["pid"])
    assert (new.generation, new.old) == ("2", False)
    assert old.time < new.time


def test_colour_only_on_a_terminal(make_site):
    site = make_site(APP)
    print_through(site, "to-stderr", "stderr")
    wait_until(lambda: printed_lines(site), 10, "the line in the logs")
    assert "\x1b[" not in site.cli("logs", "web").stdout
    returncode, output, stderr = site.cli_on_terminal("logs", "web")
    assert returncode == 0, stderr
    assert b"\x1b[31mstderr\x1b[0m" in output and b"to-stderr" in output
