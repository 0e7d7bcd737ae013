"""More front processes: `[proxy] processes = N` runs N-1 of them beside the master's own proxy (DESIGN §1,
docs/architecture.md "Front processes").

The master stays the one place that knows workers: it publishes what its proxy routes to (views.py) over a
socketpair to each extra front, which mirrors it into a ProxyServer of its own (mirror.py) and reports its counts,
access-log lines and released workers back (fleet.py merges them)."""
