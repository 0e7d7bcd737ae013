"""The configs of docs/scale-out.md, as the test uses them: each tested block read from the guide, its example
addresses replaced by the test network's. The guide marks a tested block with `<!-- scale-out-test: NAME -->`."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.support.site import REPO

GUIDE = REPO / "docs" / "scale-out.md"
_BLOCK = re.compile(r"<!-- scale-out-test: (?P<name>[\w.-]+) -->\s*```[\w-]*\n(?P<body>.*?)\n```", re.S)


class GuideChanged(AssertionError):
    """The guide no longer has what the test replaces; the message says what to update."""


def guide_blocks() -> dict[str, str]:
    return {match["name"]: match["body"] + "\n" for match in _BLOCK.finditer(GUIDE.read_text(encoding="utf-8"))}


def guide_block(name: str) -> str:
    blocks = guide_blocks()
    if name not in blocks:
        raise GuideChanged(f"{GUIDE} has no block marked <!-- scale-out-test: {name} --> (it has {sorted(blocks)})")
    return blocks[name]


@dataclass(frozen=True)
class ExampleAddresses:
    """The addresses the guide's examples use. Kept apart from the test network's so the guide reads like a
    real site and a test never depends on what the machine's own 10.0.0.x means."""

    balancer: str = "10.0.0.2"
    redis: str = "10.0.0.10:6379"
    hosts: tuple[str, ...] = ("10.0.0.11", "10.0.0.12", "10.0.0.13")
    public_url: str = "http://wazstagram.example.com"
    balancer_listen: str = "listen 80;"


@dataclass(frozen=True)
class TestAddresses:
    balancer: str  # the balancer's address as the hosts see it (the bridge's)
    balancer_port: int
    redis: str  # host:port
    hosts: tuple[str, ...]

    @property
    def public_url(self) -> str:
        return f"http://{self.balancer}:{self.balancer_port}"


def _replace(text: str, old: str, new: str, block: str, required: bool) -> str:
    # Whole addresses only: 10.0.0.1 must not match inside 10.0.0.11.
    pattern = re.compile(r"(?<![\w.])" + re.escape(old) + r"(?![\w])")
    replaced, count = pattern.subn(new, text)
    if required and count == 0:
        raise GuideChanged(f"the guide's {block} block no longer contains {old!r}: update tests/multihost/guide.py")
    return replaced


def localize(text: str, block: str, to: TestAddresses, example: ExampleAddresses = ExampleAddresses(),
             required: tuple[str, ...] = ()) -> str:
    """`text` with every example address replaced by the test network's; `required` names those that must occur
    (by ExampleAddresses field), so a guide edit that drops one fails here rather than testing something else."""
    pairs = [("public_url", example.public_url, to.public_url),
             ("redis", example.redis, to.redis),
             ("balancer", example.balancer, to.balancer),
             *((f"host{i + 1}", old, new) for i, (old, new) in enumerate(zip(example.hosts, to.hosts)))]
    for field, old, new in pairs:
        text = _replace(text, old, new, block, field in required)
    return text


def nginx_config(to: TestAddresses) -> str:
    """The guide's nginx.conf block, listening on the test balancer's address and port."""
    example = ExampleAddresses()
    text = guide_block("nginx.conf")
    if example.balancer_listen not in text:
        raise GuideChanged(f"the guide's nginx.conf block no longer says {example.balancer_listen!r}: "
                           "update tests/multihost/guide.py")
    text = text.replace(example.balancer_listen, f"listen {to.balancer}:{to.balancer_port};")
    return localize(text, "nginx.conf", to, required=tuple(f"host{i + 1}" for i in range(len(to.hosts))))
