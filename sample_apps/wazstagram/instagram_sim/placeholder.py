"""Placeholder pictures for /media/...: small SVGs drawn from the path alone (city, id, user), so they survive restarts."""

from __future__ import annotations

import hashlib
import re
from xml.sax.saxutils import escape

from sample_apps.wazstagram.cities import city_named

PICTURE_NAME = re.compile(r"^(?P<id>\d{1,24})_(?P<user>[A-Za-z0-9_]{1,40})_(?P<size>150|306|612)\.svg$")
AVATAR_NAME = re.compile(r"^(?P<user>[A-Za-z0-9_]{1,40})\.svg$")
PLACE_NAME = re.compile(r"^[A-Za-z0-9-]{1,40}$")


def _hue(seed: str) -> int:
    return int.from_bytes(hashlib.sha1(seed.encode()).digest()[:2], "big") % 360


def picture_svg(place: str, file_name: str) -> str | None:
    """The picture for /media/<place>/<id>_<user>_<size>.svg, or None if the name is not one we make."""
    match = PICTURE_NAME.match(file_name)
    if match is None or not PLACE_NAME.match(place):
        return None
    city = city_named(place)
    title = city.title if city else place
    size, user, media_id = int(match["size"]), match["user"], match["id"]
    digest = hashlib.sha256(media_id.encode()).digest()
    hue = _hue(media_id)
    sun_x = 15 + digest[0] % 70
    # A skyline: ten buildings whose heights come from the id, so each picture differs but never changes.
    buildings = "".join(
        f'<rect x="{i * 10}" y="{78 - (18 + digest[i + 1] % 38)}" width="{9 + digest[i + 11] % 3}" '
        f'height="{18 + digest[i + 1] % 38}" fill="hsl({hue},{25 + digest[i + 1] % 20}%,{18 + i % 3 * 6}%)"/>'
        for i in range(10))
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 100 100">
<defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
<stop offset="0" stop-color="hsl({hue},70%,58%)"/><stop offset="1" stop-color="hsl({(hue + 40) % 360},80%,84%)"/>
</linearGradient></defs>
<rect width="100" height="100" fill="url(#sky)"/>
<circle cx="{sun_x}" cy="24" r="9" fill="hsl({(hue + 180) % 360},90%,90%)" opacity="0.9"/>
{buildings}
<rect x="0" y="78" width="100" height="22" fill="rgba(0,0,0,0.4)"/>
<text x="50" y="88" font-family="sans-serif" font-size="8" font-weight="bold" fill="#fff" text-anchor="middle">{escape(title)}</text>
<text x="50" y="96" font-family="sans-serif" font-size="5" fill="#eee" text-anchor="middle">{escape("@" + user)}</text>
<title>{escape(f"{title}, by @{user}")}</title>
</svg>
"""


def avatar_svg(file_name: str) -> str | None:
    """The profile picture for /media/users/<user>.svg."""
    match = AVATAR_NAME.match(file_name)
    if match is None:
        return None
    user = match["user"]
    initial = user[0].upper()
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="150" height="150" viewBox="0 0 100 100">
<circle cx="50" cy="50" r="50" fill="hsl({_hue(user)},55%,50%)"/>
<text x="50" y="66" font-family="sans-serif" font-size="48" fill="#fff" text-anchor="middle">{escape(initial)}</text>
<title>{escape(user)}</title>
</svg>
"""
