"""AppLogs: worker files keep exact bytes, roll over by size, and stay within the app's caps (issue 5 §1–2)."""

from __future__ import annotations

import os
from pathlib import Path

from pysupervise.logs.app_logs import AppLogs, parse_worker_file, worker_file_name
from tests.admin.support import log_settings

MiB = 1024 * 1024


def worker_files_on_disk(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir()
            if parse_worker_file(p) is not None and not p.is_symlink()}


def bytes_on_disk(folder: Path) -> int:
    """Worker files and their line-time indexes (logs/line_times.py): what the app's total counts."""
    return sum(worker_files_on_disk(folder).values()) + sum(p.stat().st_size for p in folder.glob("*.log.times"))


def test_bytes_are_kept_exactly_as_written(tmp_path):
    logs = AppLogs(tmp_path / "web", log_settings())
    writer = logs.open_stream(0, 4242, "stdout")
    chunks = [b"plain line\n", b"no newline yet", b" \xff\xfe raw bytes \x1b[31m\r\n", b"", b"\x00end"]
    for chunk in chunks:
        writer.write(chunk)
    writer.close()
    assert writer.path.read_bytes() == b"".join(chunks)
    assert writer.path.parent == tmp_path / "web"
    parsed = parse_worker_file(writer.path)
    assert (parsed.slot, parsed.pid, parsed.stream, parsed.sequence) == (0, 4242, "stdout", 0)
    assert writer.path.name == f"0-4242-stdout-{parsed.created}.log"


def test_two_writes_of_max_file_size_make_two_files(tmp_path):
    logs = AppLogs(tmp_path, log_settings(max_file_size=1024))
    writer = logs.open_stream(1, 77, "stderr")
    first, second = b"a" * 1023 + b"\n", b"b" * 1023 + b"\n"
    writer.write(first)
    writer.write(second)
    files = sorted(logs.files(), key=lambda f: f.sequence)
    assert [f.sequence for f in files] == [0, 1]
    assert [f.path.read_bytes() for f in files] == [first, second]
    # The continuation has its own name even within the same second: <slot>-<pid>-<stream>-<ts>.<n>.log
    assert files[1].name == worker_file_name(1, 77, "stderr", files[1].created, 1)
    assert files[1].name.endswith(".1.log")
    assert logs.is_live(files[1].name) and not logs.is_live(files[0].name)
    assert writer.path == files[1].path


def test_a_line_and_its_newline_written_apart_stay_in_one_file(tmp_path):
    # print() under PYTHONUNBUFFERED writes a line, then its "\n": the capture may read them apart, the newline
    # together with the next line. The file that holds the line takes its end; the next line starts the next file.
    logs = AppLogs(tmp_path, log_settings(max_file_size=1024))
    writer = logs.open_stream(0, 5, "stdout")
    writer.write(b"a" * 1023)
    writer.write(b"\n" + b"b" * 1023 + b"\n")
    files = sorted(logs.files(), key=lambda f: f.sequence)
    assert [f.path.read_bytes() for f in files] == [b"a" * 1023 + b"\n", b"b" * 1023 + b"\n"]


def test_a_write_that_does_not_fit_fills_the_file_with_the_whole_lines_that_do(tmp_path):
    logs = AppLogs(tmp_path, log_settings(max_file_size=20))
    writer = logs.open_stream(0, 6, "stdout")
    writer.write(b"first line\n")  # 11 bytes: 9 left
    writer.write(b"two\nthree\nfour\n")  # "two\n" fits (4), "three\n" would not
    files = sorted(logs.files(), key=lambda f: f.sequence)
    assert [f.path.read_bytes() for f in files] == [b"first line\ntwo\n", b"three\nfour\n"]


def test_a_write_larger_than_a_file_is_cut_at_a_newline_and_loses_nothing(tmp_path):
    logs = AppLogs(tmp_path, log_settings(max_file_size=100))
    writer = logs.open_stream(0, 1, "stdout")
    data = b"".join(b"line %03d\n" % i for i in range(40))  # 360 bytes in one write
    writer.write(data)
    files = sorted(logs.files(), key=lambda f: f.sequence)
    assert all(f.size <= 100 for f in files)
    assert b"".join(f.path.read_bytes() for f in files) == data
    assert all(f.path.read_bytes().endswith(b"\n") for f in files)


def test_files_are_listed_newest_first_with_sizes(tmp_path):
    logs = AppLogs(tmp_path, log_settings(max_file_size=10))
    a = logs.open_stream(0, 10, "stdout")
    b = logs.open_stream(1, 11, "stdout")
    a.write(b"123456789\n")
    a.write(b"x\n")
    b.write(b"yy\n")
    names = [f.name for f in logs.files()]
    assert names[0] == a.path.name  # a's rollover was created last
    assert {f.name: f.size for f in logs.files()} == worker_files_on_disk(tmp_path)


def test_a_flood_never_takes_the_folder_over_the_cap_plus_one_file(tmp_path):
    settings = log_settings(max_total_size=4 * MiB)  # max_file_size stays 1 MiB
    logs = AppLogs(tmp_path, settings)
    writer = logs.open_stream(0, 999, "stdout")
    quiet = logs.open_stream(1, 1000, "stderr")
    quiet.write(b"an early warning\n")
    chunk = b"".join(b"flood line %06d ................................\n" % i for i in range(1200))  # ~64 KiB
    written = 0
    batches = 0
    while written < 50 * 1000 * 1000:
        for _ in range(16):  # a batch of ~1 MiB, then look at the disk
            writer.write(chunk)
            written += len(chunk)
        batches += 1
        on_disk = worker_files_on_disk(tmp_path)
        assert bytes_on_disk(tmp_path) <= settings.max_total_size + settings.max_file_size, batches
        assert bytes_on_disk(tmp_path) == logs.total_size
    # The newest bytes survive; the quiet worker's live file was never sacrificed to the flood.
    assert writer.path.read_bytes().endswith(chunk[-1000:]) or writer.path.stat().st_size < 1000
    assert quiet.path.read_bytes() == b"an early warning\n"
    assert len(on_disk) <= 5


def test_max_files_is_honoured_oldest_first(tmp_path):
    logs = AppLogs(tmp_path, log_settings(max_file_size=10, max_files=5))
    writer = logs.open_stream(0, 5, "stdout")
    for index in range(20):
        writer.write(b"%09d\n" % index)
        assert len(worker_files_on_disk(tmp_path)) <= 5
    kept = sorted(logs.files(), key=lambda f: f.sequence)
    assert [f.path.read_bytes() for f in kept] == [b"%09d\n" % i for i in range(15, 20)]


def test_side_files_and_strangers_are_never_purged(tmp_path):
    (tmp_path / "events.log").write_text("spawned\n" * 100)
    (tmp_path / "access.log").write_text("GET /\n" * 100)
    (tmp_path / "notes.txt").write_text("mine")
    logs = AppLogs(tmp_path, log_settings(max_file_size=10, max_total_size=1000, max_files=2))
    writer = logs.open_stream(0, 5, "stdout")
    for index in range(10):
        writer.write(b"%09d\n" % index)
    assert (tmp_path / "events.log").stat().st_size == 800
    assert (tmp_path / "access.log").stat().st_size == 600
    assert (tmp_path / "notes.txt").exists()
    assert len(worker_files_on_disk(tmp_path)) == 2


def test_the_index_is_rebuilt_from_disk_and_limits_apply_at_once(tmp_path):
    first = AppLogs(tmp_path, log_settings(max_file_size=100))
    writers = [first.open_stream(slot, 100 + slot, "stdout") for slot in range(3)]
    for writer in writers:
        writer.write(b"x" * 60 + b"\n")
        writer.write(b"y" * 60 + b"\n")  # rolls over
        writer.close()
    os.symlink("/etc/passwd", tmp_path / "0-1-stdout-1.log")  # never indexed, never purged through
    again = AppLogs(tmp_path, log_settings(max_file_size=100))
    assert {(f.name, f.size) for f in again.files()} == {(f.name, f.size) for f in first.files()}
    # Each file: 61 bytes, and its line-time index (a 24-byte header, one 16-byte record).
    assert again.total_size == 6 * (61 + 24 + 16) == bytes_on_disk(tmp_path)
    assert again.find("0-1-stdout-1.log") is None

    smaller = AppLogs(tmp_path, log_settings(max_file_size=100, max_files=4))
    assert len(smaller.files()) == 4
    assert len(worker_files_on_disk(tmp_path)) == 4
    assert os.path.islink(tmp_path / "0-1-stdout-1.log")
    # Files found on disk are aged by their name: creation second, then rollover number.
    by_age = sorted(first.files(), key=lambda f: (f.created, f.sequence, f.slot))
    assert {f.name for f in smaller.files()} == {f.name for f in by_age[2:]}


def test_two_apps_have_independent_folders_and_caps(tmp_path):
    settings = log_settings(max_file_size=100, max_total_size=300)
    web = AppLogs(tmp_path / "web", settings)
    api = AppLogs(tmp_path / "api", settings)
    api_writer = api.open_stream(0, 1, "stdout")
    api_writer.write(b"api keeps this\n")
    web_writer = web.open_stream(0, 2, "stdout")
    for _ in range(50):
        web_writer.write(b"w" * 99 + b"\n")
    assert sum(worker_files_on_disk(tmp_path / "web").values()) <= 400
    assert api_writer.path.read_bytes() == b"api keeps this\n"
    assert [f.name for f in api.files()] == [api_writer.path.name]


def test_live_files_go_only_when_they_alone_exceed_the_cap_by_a_file(tmp_path):
    settings = log_settings(max_file_size=100, max_total_size=250)
    logs = AppLogs(tmp_path, settings)
    writers = [logs.open_stream(slot, 50 + slot, "stdout") for slot in range(5)]
    for round_ in range(3):
        for writer in writers:
            writer.write(b"%02d" % round_ + b"z" * 27 + b"\n")  # 30 bytes each, no rollover
            assert logs.total_size <= settings.max_total_size + settings.max_file_size
            assert bytes_on_disk(tmp_path) == logs.total_size
    # Every writer still has a current file on disk and keeps writing into it.
    for writer in writers:
        writer.write(b"still here\n")
        assert writer.path.read_bytes().endswith(b"still here\n")
