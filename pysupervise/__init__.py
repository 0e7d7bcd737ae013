"""pysupervise: a process supervisor and reverse proxy for Python web apps."""

__version__ = "0.1.0"
