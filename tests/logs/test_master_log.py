"""<log_dir>/pysupervise.log of a detached master: timestamped lines, rotated by size, bounded, and a full disk
never raises."""

from __future__ import annotations

import os
import re
import time

from pysupervise.logs.master_log import KEEP_FILES, MasterLog
from tests.support.disk import fill, small_tmpfs


STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} ")


def files_of(folder) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir() if p.name.startswith("pysupervise.log")}


def unstamped(text: str) -> str:
    """The lines without their timestamps; fails on a line that has none."""
    lines = text.splitlines(keepends=True)
    assert all(STAMP.match(line) for line in lines), text
    return "".join(line[24:] for line in lines)


def test_every_line_starts_with_the_time_it_was_written(tmp_path):
    log = MasterLog(tmp_path / "pysupervise.log", max_file_size=100_000)
    before = time.time()
    print("one line", file=log, flush=True)
    log.write("two lines\nin one write\n")
    log.write("a line in ")
    log.write("three ")
    log.write("pieces\n")
    print("a traceback:\n  File x\n", file=log)
    log.close()
    text = (tmp_path / "pysupervise.log").read_text()
    assert unstamped(text) == ("one line\ntwo lines\nin one write\na line in three pieces\n"
                               "a traceback:\n  File x\n\n")
    written = time.mktime(time.strptime(text[:19], "%Y-%m-%d %H:%M:%S")) + float(text[19:23])
    assert before - 0.001 <= written <= time.time()  # local time, to the millisecond


def test_rotates_between_lines_and_keeps_a_bounded_number_of_files(tmp_path):
    log = MasterLog(tmp_path / "pysupervise.log", max_file_size=1000)
    for number in range(200):
        print(f"line {number:04d} " + "x" * 80, file=log, flush=True)  # print: the line, then its newline
    log.close()
    files = files_of(tmp_path)
    assert sorted(files) == ["pysupervise.log"] + [f"pysupervise.log.{n}" for n in range(1, KEEP_FILES + 1)]
    assert all(size <= 1000 for size in files.values())
    for name in files:
        lines = unstamped((tmp_path / name).read_text()).splitlines()
        assert lines and all(line.startswith("line ") and len(line) == 90 for line in lines)
    # Newest last: the current file ends with the last line, .1 holds the lines just before it.
    assert unstamped((tmp_path / "pysupervise.log").read_text()).splitlines()[-1].startswith("line 0199 ")
    newest_old = unstamped((tmp_path / "pysupervise.log.1").read_text()).splitlines()[-1]
    oldest_now = unstamped((tmp_path / "pysupervise.log").read_text()).splitlines()[0]
    assert int(newest_old.split()[1]) + 1 == int(oldest_now.split()[1])


def test_output_around_python_lands_in_the_current_file(tmp_path):
    # The detached master's fds 1 and 2 follow the current file (a C extension or faulthandler writes there).
    saved = os.dup(1)
    try:
        log = MasterLog(tmp_path / "pysupervise.log", max_file_size=100, fds=(1,))
        print("a" * 99, file=log)
        print("b" * 10, file=log)  # rolls over: fd 1 moves to the new file
        os.write(1, b"written to fd 1\n")
        log.close()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    # Output around Python has no timestamp: only what goes through the stream gets one.
    text = (tmp_path / "pysupervise.log").read_text()
    assert STAMP.match(text) and text[24:] == "b" * 10 + "\nwritten to fd 1\n"


def test_a_full_disk_drops_lines_and_writing_resumes_when_there_is_room():
    with small_tmpfs("1m") as disk:
        log = MasterLog(disk / "pysupervise.log", max_file_size=64 * 1024)
        print("before the disk filled up", file=log, flush=True)
        fill(disk / "filler")
        for number in range(100):
            print(f"lost line {number} " + "y" * 100, file=log, flush=True)  # must not raise
        assert log.dropped_bytes > 0
        (disk / "filler").unlink()
        print("after there was room again", file=log, flush=True)
        log.close()
        text = unstamped("".join((disk / name).read_text() for name in sorted(files_of(disk), reverse=True)))
        assert "before the disk filled up\n" in text and text.endswith("after there was room again\n")
