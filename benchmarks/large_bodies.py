"""Large bodies through pysupervise and nginx (same worker sockets): downloads, uploads, and the master's memory.

One alternating run over the same 2 workers of benchmarks/transfer_app.py, printing medians and ratios:
  - 100 KB and 1 MB downloads, wrk with --connections keep-alive connections (MB/s of response bodies);
  - 10 MB uploads, wrk POSTing the same body on --upload-connections connections (MB/s of request bodies);
  - with --with-100mb, one 100 MB download and one 100 MB upload at a time (curl), as in proxy_throughput.py;
  - the proxy's CPU time (user + system) per MB of those bodies, steadier than MB/s on a shared machine;
  - the proxy's RSS (the pysupervise master; the sum of nginx's workers): before any transfer, the peak
    during all of them, and 2 s after a last burst of concurrent 1 MB downloads and 10 MB uploads.
wrk and the proxies share the machine's cores, so MB/s measure the whole box; the ratios are what compare.
Not a test: compare numbers only within one run.

    python3 benchmarks/large_bodies.py [--rounds 5] [--seconds 5] [--connections 16] [--upload-connections 8]
                                       [--with-100mb]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import bench_app, median, nginx_in_front_of, pysupervise_site, wrk  # noqa: E402
from benchmarks.proxy_throughput import curl_speed  # noqa: E402

APP = "benchmarks.transfer_app:create_app"
UPLOAD_BYTES = 10 * 1024 * 1024
AFTER_SECONDS = 2.0  # between the last burst's end and the "after" RSS

Processes = Callable[[], list[psutil.Process]]


class RssPeak:
    """Samples the summed RSS of some processes every 20 ms in a thread, keeping the peak."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def now(self) -> float:
        return sum(p.memory_info().rss for p in self.processes()) / 2**20

    def cpu_seconds(self) -> float:
        return sum(sum(p.cpu_times()[:2]) for p in self.processes())

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, self.now())
            except psutil.NoSuchProcess:
                pass  # an nginx worker replaced: the next sample counts its successor

    def __enter__(self) -> "RssPeak":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def upload_script(folder: Path) -> Path:
    script = folder / "upload.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = string.rep("u", {UPLOAD_BYTES})\n'
                      'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    return script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16, help="for downloads (default 16)")
    parser.add_argument("--upload-connections", type=int, default=8, help="for 10 MB uploads (default 8)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--with-100mb", action="store_true", help="also 100 MB transfers, one at a time (curl)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="psb-bodies-", dir="/tmp"))
    script = upload_script(folder)
    # (label, path, wrk script, connections, bytes per request)
    workloads = [("100 KB downloads", "/download?size=102400", None, args.connections, 102400),
                 ("1 MB downloads", "/download?size=1048576", None, args.connections, 1048576),
                 ("10 MB uploads", "/upload", script, args.upload_connections, UPLOAD_BYTES)]
    mbps: dict[str, dict[str, list[float]]] = {}
    cpu_ms: dict[str, dict[str, list[float]]] = {}  # the proxy's CPU (user + system) per MB moved
    with pysupervise_site(bench_app(APP, args.workers)) as site, nginx_in_front_of(site.sockets("bench")) as nginx:
        master = psutil.Process(site.process.pid)
        nginx_master = next(p for p in psutil.Process().children() if p.name() == "nginx")
        targets = {"pysupervise": (site.port, RssPeak(lambda: [master])),
                   "nginx": (nginx, RssPeak(nginx_master.children))}
        for port, _ in targets.values():
            wrk(port, seconds=1, connections=args.connections)  # hello: pools and code paths, no large body yet
        before = {name: rss.now() for name, (_, rss) in targets.items()}
        with contextlib.ExitStack() as sampling:
            for _, rss in targets.values():
                sampling.enter_context(rss)
            for label, path, lua, connections, size in workloads:
                print(f"{label}, {connections} connections, {args.workers} workers:", flush=True)
                mbps[label] = {name: [] for name in targets}
                cpu_ms[label] = {name: [] for name in targets}
                for name, (port, _) in targets.items():
                    wrk(port, path, seconds=1, connections=connections, script=lua)  # warm up
                for round_number in range(args.rounds):
                    for name in list(targets)[:: 1 if round_number % 2 == 0 else -1]:
                        port, rss = targets[name]
                        cpu_before = rss.cpu_seconds()
                        result = wrk(port, path, args.seconds, connections, script=lua)
                        megabytes = result.requests_per_second * args.seconds * size / 1e6
                        mbps[label][name].append(megabytes / args.seconds)
                        cpu_ms[label][name].append((rss.cpu_seconds() - cpu_before) * 1000 / megabytes)
                        print(f"  round {round_number + 1} {name:12s} {mbps[label][name][-1]:8.0f} MB/s  "
                              f"proxy CPU {cpu_ms[label][name][-1]:5.2f} ms/MB  p99 {result.p99_ms:7.1f} ms  "
                              f"errors {result.errors}", flush=True)
            if args.with_100mb:
                upload_file = folder / "upload.bin"
                upload_file.write_bytes(b"u" * 100 * 2**20)
                print("100 MB transfers, one at a time (curl):", flush=True)
                for label, upload in (("100 MB download", None), ("100 MB upload", upload_file)):
                    mbps[label] = {name: [] for name in targets}
                    for round_number in range(args.rounds):
                        for name in list(targets)[:: 1 if round_number % 2 == 0 else -1]:
                            mbps[label][name].append(curl_speed(targets[name][0], upload))
            after: dict[str, float] = {}
            print("last burst: 1 MB downloads and 10 MB uploads at once, then 2 s of quiet:", flush=True)
            for name, (port, rss) in targets.items():
                uploads = threading.Thread(target=wrk, args=(port, "/upload", args.seconds, args.upload_connections),
                                           kwargs={"script": script})
                uploads.start()
                wrk(port, "/download?size=1048576", args.seconds, 4 * args.connections)
                uploads.join()
                time.sleep(AFTER_SECONDS)
                after[name] = rss.now()
        peak = {name: rss.peak for name, (_, rss) in targets.items()}
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    print(f"\nmedians of {args.rounds} rounds, {args.workers} workers")
    print(f"{'':44s}{'pysupervise':>12s}{'nginx':>10s}{'ratio':>8s}")
    for label, values in mbps.items():
        ps, ng = median(values["pysupervise"]), median(values["nginx"])
        print(f"{label + ', MB/s':44s}{ps:12.0f}{ng:10.0f}{ps / ng:7.2f}x")
    for label, values in cpu_ms.items():
        ps, ng = median(values["pysupervise"]), median(values["nginx"])
        print(f"{label + ', proxy CPU ms per MB':44s}{ps:12.2f}{ng:10.2f}{ps / ng:7.2f}x")
    for label, values in (("proxy RSS before, MiB", before), ("          peak, MiB", peak),
                          (f"          {AFTER_SECONDS:g} s after the last burst, MiB", after)):
        print(f"{label:44s}{values['pysupervise']:12.1f}{values['nginx']:10.1f}")


if __name__ == "__main__":
    main()
