"""pysupervise: a process supervisor and reverse proxy for Python web apps."""

from pysupervise import extensions

__version__ = "0.1.0"

# Before any other module of ours is imported: a compiled module older than its source must not load.
extensions.install(__name__)
