"""Upgraded connections: after a worker's 101 (a websocket), the exchange is a byte tunnel, closed between frames."""
