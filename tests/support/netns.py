"""A private network of hosts for one test run: a bridge in the root namespace and one network namespace per host.

Every name carries the test process's pid, so parallel runs never meet, and `close()` undoes every step that
was done, in reverse, even when building failed half way. Needs root and iproute2's `ip`.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass

SUBNETS = ipaddress.ip_network("10.88.0.0/16")  # /24s are taken from here; the guide's 10.0.0.x is not used


class NetworkSetupError(RuntimeError):
    """An `ip` command failed; the message has the command and what it printed."""


def ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NetworkSetupError(f"ip {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def missing_requirements() -> str | None:
    """Why this machine cannot build the network, or None when it can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    return None


def unused_subnet() -> ipaddress.IPv4Network:
    """A /24 of SUBNETS that no address of the root namespace is in (another run may hold one). The search starts
    at one picked by the pid, so two runs starting at the same moment are unlikely to pick the same."""
    taken = {ipaddress.ip_interface(word).network for line in ip("-o", "-4", "addr", "show").splitlines()
             for word in line.split()[3:4]}
    subnets = list(SUBNETS.subnets(new_prefix=24))
    start = os.getpid() % len(subnets)
    for subnet in subnets[start:] + subnets[:start]:
        if not any(subnet.overlaps(network) for network in taken):
            return subnet
    raise NetworkSetupError(f"every /24 of {SUBNETS} is in use")


@dataclass(frozen=True)
class NamespaceHost:
    """One host: a network namespace with loopback up and one address on the bridge."""

    name: str  # the namespace's name, for `ip netns exec`
    address: str

    def command(self, *argv: str) -> list[str]:
        """argv run inside this host's namespace (ip execs it: the process started is argv itself)."""
        return ["ip", "netns", "exec", self.name, *argv]


class BridgeNetwork:
    """A bridge holding the subnet's first address in the root namespace, and hosts plugged into it by veth pairs.
    Call close() after start() and add_host(), also when they raised: it removes what they made.

    Processes of the root namespace (a balancer, Redis) listen on `gateway`; each host reaches them there and
    reaches the other hosts by their addresses.
    """

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or str(os.getpid())
        self.subnet = unused_subnet()
        addresses = self.subnet.hosts()
        self.gateway = str(next(addresses))
        self._addresses = addresses
        self.bridge = f"psbr{self.tag}"
        self.hosts: list[NamespaceHost] = []
        self._undo: list[tuple[str, ...]] = []  # `ip` commands that remove what was made, newest last

    def start(self) -> BridgeNetwork:
        ip("link", "add", self.bridge, "type", "bridge")
        self._undo.append(("link", "del", self.bridge))
        ip("addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        return self

    def add_host(self) -> NamespaceHost:
        number = len(self.hosts) + 1
        host = NamespaceHost(f"ps{self.tag}h{number}", str(next(self._addresses)))
        outside, inside = f"psv{self.tag}h{number}", f"psp{self.tag}h{number}"
        ip("netns", "add", host.name)
        self._undo.append(("netns", "del", host.name))  # deleting the namespace deletes both ends of its veth
        ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        self._undo.append(("link", "del", outside))
        ip("link", "set", inside, "netns", host.name)
        ip("link", "set", outside, "master", self.bridge)
        ip("link", "set", outside, "up")
        for args in (("link", "set", "lo", "up"), ("link", "set", inside, "name", "eth0"),
                     ("addr", "add", f"{host.address}/{self.subnet.prefixlen}", "dev", "eth0"),
                     ("link", "set", "eth0", "up")):
            ip("netns", "exec", host.name, "ip", *args)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        """Remove everything made, newest first; a step that fails (already gone) does not stop the others."""
        errors = []
        while self._undo:
            step = self._undo.pop()
            result = subprocess.run(["ip", *step], capture_output=True, text=True, timeout=30)
            if result.returncode != 0 and "Cannot find" not in result.stderr and "No such" not in result.stderr:
                errors.append(f"ip {' '.join(step)}: {result.stderr.strip()}")
        self.hosts.clear()
        if errors:
            raise NetworkSetupError("; ".join(errors))
