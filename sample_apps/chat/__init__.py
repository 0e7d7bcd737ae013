"""chat: one room across every worker through the bus channel "chat" (see app.py)."""

from sample_apps.chat.app import create_app

__all__ = ["create_app"]
