"""The wazstagram backend role: Instagram callbacks in, pictures published to the bus topic (see app.py)."""

from sample_apps.wazstagram.backend.app import create_app

__all__ = ["create_app"]
