"""<log_dir>/pysupervise.log of a detached master: rotated by size, bounded, and a full disk never raises."""

from __future__ import annotations

import os

from pysupervise.logs.master_log import KEEP_FILES, MasterLog
from tests.support.disk import fill, small_tmpfs


def files_of(folder) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir() if p.name.startswith("pysupervise.log")}


def test_rotates_between_lines_and_keeps_a_bounded_number_of_files(tmp_path):
    log = MasterLog(tmp_path / "pysupervise.log", max_file_size=1000)
    for number in range(200):
        print(f"line {number:04d} " + "x" * 80, file=log, flush=True)  # print: the line, then its newline
    log.close()
    files = files_of(tmp_path)
    assert sorted(files) == ["pysupervise.log"] + [f"pysupervise.log.{n}" for n in range(1, KEEP_FILES + 1)]
    assert all(size <= 1000 for size in files.values())
    for name in files:
        lines = (tmp_path / name).read_text().splitlines()
        assert lines and all(line.startswith("line ") and len(line) == 90 for line in lines)
    # Newest last: the current file ends with the last line, .1 holds the lines just before it.
    assert (tmp_path / "pysupervise.log").read_text().splitlines()[-1].startswith("line 0199 ")
    newest_old = (tmp_path / "pysupervise.log.1").read_text().splitlines()[-1]
    oldest_now = (tmp_path / "pysupervise.log").read_text().splitlines()[0]
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
    assert (tmp_path / "pysupervise.log").read_text() == "b" * 10 + "\nwritten to fd 1\n"


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
        text = "".join((disk / name).read_text() for name in sorted(files_of(disk), reverse=True))
        assert "before the disk filled up\n" in text and text.endswith("after there was room again\n")
