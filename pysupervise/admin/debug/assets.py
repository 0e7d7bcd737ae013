"""The debugger page's script and stylesheet (files in static/), served by the admin app with a content hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

_FOLDER = Path(__file__).with_name("static")
_TYPES = {".js": "text/javascript", ".css": "text/css"}


@dataclass(frozen=True)
class Asset:
    text: str
    content_type: str


class DebugAssets:
    """Read once at startup; the version in their URLs changes with their content, so browsers cache for good."""

    def __init__(self, folder: Path = _FOLDER) -> None:
        self.files = {path.name: Asset(path.read_text(encoding="utf-8"), _TYPES[path.suffix])
                      for path in sorted(folder.iterdir()) if path.suffix in _TYPES}
        digest = hashlib.sha256("".join(a.text for a in self.files.values()).encode())
        self.version = digest.hexdigest()[:12]

    def response(self, name: str) -> web.Response | None:
        asset = self.files.get(name)
        if asset is None:
            return None
        response = web.Response(text=asset.text, content_type=asset.content_type, charset="utf-8")
        response.headers["Cache-Control"] = "private, max-age=31536000, immutable"
        return response
