"""An app's static folders, served by the proxy itself, so they keep working while the app's workers are down:
site.py finds and opens a URL's file, validators.py answers the conditional and range headers, transfer.py sends
the answer (large files with sendfile())."""

from pysupervise.proxy.static.site import StaticSite
from pysupervise.proxy.static.transfer import StaticTransfer

__all__ = ["StaticSite", "StaticTransfer"]
