"""docs/scale-out.md built for real: pysupervise hosts in network namespaces, one Redis and nginx in front.

Redis and nginx run in the root namespace on the bridge's address, where every host reaches them (the guide
puts them on machines of their own). Each host runs `pysupervise start` on the guide's supervisor.toml with
the test's addresses, paths and worker counts. `close()` stops and removes everything that was started, in
reverse order, also after a failed start.
"""

from __future__ import annotations

import shutil
import socket
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tests.bus.servers import RedisServer
from tests.multihost.guide import TestAddresses, guide_block, localize, nginx_config
from tests.support.netns import BridgeNetwork, NamespaceHost
from tests.support.nginx import Nginx
from tests.support.repo_site import toml_text
from tests.support.site import REPO, Site

SIMULATOR_HOST = 0  # index of the host that also runs the Instagram simulator (the guide's host 1)


@dataclass(frozen=True)
class ClusterSettings:
    """What the test changes in the guide's configs, so that the run is short on a small machine."""

    hosts: int = 3
    workers: int = 1  # per app, instead of "auto": the same count on any machine
    drain_timeout: float = 3.0  # instead of the guide's, when the guide sets one
    app_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # extra env per app

    def env_for(self, app: str) -> Mapping[str, str]:
        return self.app_env.get(app, {})


def free_port_on(address: str) -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def host_id(index: int) -> str:
    return f"host{index + 1}"


def host_config(addresses: TestAddresses, index: int, run_dir: Path, log_dir: Path,
                settings: ClusterSettings) -> str:
    """The guide's supervisor.toml for host `index` (plus the simulator's part on SIMULATOR_HOST)."""
    text = localize(guide_block("supervisor.toml"), "supervisor.toml", addresses,
                    required=("redis", "balancer", "public_url", "host1"))
    if index == SIMULATOR_HOST:
        text += "\n" + guide_block("instagram.toml")
    document: dict[str, Any] = tomllib.loads(text)
    supervisor = document["supervisor"]
    supervisor.update(run_dir=str(run_dir), log_dir=str(log_dir))
    # The namespaces share the machine's hostname, the default host_id; real hosts each have their own.
    supervisor["host_id"] = host_id(index)
    if "drain_timeout" in supervisor:
        supervisor["drain_timeout"] = settings.drain_timeout
    for name, app in document["apps"].items():
        app["dir"] = str((REPO / app.get("dir", ".")).resolve())
        if app.get("workers", "auto") == "auto":
            app["workers"] = settings.workers
        if settings.env_for(name):
            app["env"] = {**app.get("env", {}), **settings.env_for(name)}
    return toml_text(document)


@dataclass(frozen=True)
class Host:
    """One pysupervise host: its namespace (and address) and its master."""

    number: int  # 1-based, as the guide counts
    namespace: NamespaceHost
    site: Site

    @property
    def address(self) -> str:
        return self.namespace.address

    @property
    def upstream(self) -> str:
        """This host as the balancer connects to it (the port is the guide's listen), as nginx logs it."""
        return f"{self.address}:{self.site.port}"

    @property
    def url(self) -> str:
        return f"http://{self.upstream}"


class Cluster:
    """The whole guide: network, Redis, nginx, hosts. Build with start(), always end with close()."""

    def __init__(self, workdir: Path, settings: ClusterSettings = ClusterSettings()) -> None:
        self.workdir = workdir
        self.settings = settings
        self.network: BridgeNetwork | None = None
        self.redis: RedisServer | None = None
        self.nginx: Nginx | None = None
        self.hosts: list[Host] = []
        self.addresses: TestAddresses | None = None

    @property
    def balancer_url(self) -> str:
        assert self.addresses is not None
        return self.addresses.public_url

    def start(self, timeout: float = 60) -> Cluster:
        try:
            self.network = BridgeNetwork()
            self.network.start()
            namespaces = [self.network.add_host() for _ in range(self.settings.hosts)]
            gateway = self.network.gateway
            self.redis = RedisServer(also_bind=(gateway,))  # kept before it starts: close() removes its folder
            self.redis.start()
            self.addresses = TestAddresses(balancer=gateway, balancer_port=free_port_on(gateway),
                                           redis=f"{gateway}:{self.redis.port}",
                                           hosts=tuple(n.address for n in namespaces))
            # The balancer first: the backends register the balancer's address with Instagram as they start.
            self.nginx = Nginx(nginx_config(self.addresses))
            self.nginx.start(gateway, self.addresses.balancer_port)
            for index, namespace in enumerate(namespaces):
                self.hosts.append(self._host(index, namespace))
            with ThreadPoolExecutor(len(self.hosts)) as pool:
                for started in [pool.submit(self._start_site, host, timeout) for host in self.hosts]:
                    started.result()
        except BaseException:
            self.close()
            raise
        return self

    def _host(self, index: int, namespace: NamespaceHost) -> Host:
        workdir = self.workdir / f"host{index + 1}"
        workdir.mkdir()
        site = Site(workdir, "[supervisor]\n", command_prefix=tuple(namespace.command()))
        assert self.addresses is not None
        site.write_config(host_config(self.addresses, index, site.run_dir, site.log_dir, self.settings))
        return Host(index + 1, namespace, site)

    @staticmethod
    def _start_site(host: Host, timeout: float) -> None:
        listen = tomllib.loads(host.site.config_path.read_text())["supervisor"]["listen"]
        host.site.start(timeout=timeout, listen=listen)

    @property
    def simulator_url(self) -> str:
        return self.hosts[SIMULATOR_HOST].url

    @property
    def instagram_client(self) -> tuple[str, str]:
        """The client id and secret the guide's simulator knows (its first SIM_CLIENTS entry)."""
        clients = tomllib.loads(guide_block("instagram.toml"))["apps"]["instagram"]["env"]["SIM_CLIENTS"]
        client_id, _, secret = clients.split(",")[0].partition(":")
        return client_id, secret

    def restart(self, host: Host, timeout: float = 60) -> None:
        """Start a host whose master has exited (drained or killed) again, on the same config and run_dir."""
        assert host.site.process is not None and host.site.process.poll() is not None, "the host is still running"
        self._start_site(host, timeout)

    def close(self) -> None:
        errors: list[BaseException] = []
        for step in (self._stop_hosts, lambda: self.nginx and self.nginx.remove(), self._stop_redis,
                     lambda: self.network and self.network.close()):
            try:
                step()
            except BaseException as exc:  # one failed step must not leave the others behind
                errors.append(exc)
        if errors:
            raise errors[0]

    def _stop_hosts(self) -> None:
        if self.hosts:
            with ThreadPoolExecutor(len(self.hosts)) as pool:  # each waits for its graceful stop
                for stopped in [pool.submit(host.site.stop) for host in self.hosts]:
                    stopped.result()

    def _stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            shutil.rmtree(self.redis.dir, ignore_errors=True)
