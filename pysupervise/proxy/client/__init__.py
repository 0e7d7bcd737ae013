"""One client connection: the asyncio protocol (connection.py) and the helpers it needs for odd input and errors."""

from pysupervise.proxy.client.connection import ClientConnection

__all__ = ["ClientConnection"]
