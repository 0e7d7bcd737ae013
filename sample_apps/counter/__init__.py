"""counter: a session counter whose session lives in the shared cache (see app.py)."""

from sample_apps.counter.app import create_app

__all__ = ["create_app"]
