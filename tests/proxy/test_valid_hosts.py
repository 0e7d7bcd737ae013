"""The server's memory of valid Host values answers as valid_host does, and stays bounded under a flood of names."""

from __future__ import annotations

from pysupervise.proxy.forwarded import ValidHosts, valid_host

HOSTS = [b"example.com", b"example.com:8080", b"[::1]:80", b"127.0.0.1", b"a..b", b"evil.com/x", b"h\x00st",
         b"user@host", b"host:123456", b"", b"under_score.test"]


def test_remembered_answers_are_valid_hosts_answers():
    hosts = ValidHosts()
    for _ in range(2):  # the second pass answers from memory for the valid ones
        assert [hosts(h) for h in HOSTS] == [valid_host(h) for h in HOSTS]
    assert len(hosts) == sum(valid_host(h) for h in HOSTS)


def test_a_flood_of_new_names_cannot_grow_it_past_its_limit():
    hosts = ValidHosts(limit=64)
    for number in range(1000):
        assert hosts(b"host-%d.example" % number)
        assert len(hosts) <= 64
    assert not hosts(b"bad host")
