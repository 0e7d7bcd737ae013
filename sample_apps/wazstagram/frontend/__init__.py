"""The wazstagram frontend role: pictures from the bus topic, streamed to browsers per city (see app.py)."""

from sample_apps.wazstagram.frontend.app import create_app

__all__ = ["create_app"]
