"""The Instagram simulator role: Instagram's v1 API and realtime notifications, offline (see app.py)."""

from sample_apps.wazstagram.instagram_sim.app import create_app

__all__ = ["create_app"]
