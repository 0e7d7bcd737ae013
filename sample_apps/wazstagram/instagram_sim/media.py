"""Seeded fake Instagram media items in the v1 shape, placed within a geography's radius."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

EARTH_RADIUS_M = 6_371_000.0
MAX_RADIUS_M = 5_000.0  # Instagram's largest geography radius
SIZES = {"thumbnail": 150, "low_resolution": 306, "standard_resolution": 612}

_ADJECTIVES = ("calm", "brave", "sunny", "misty", "rapid", "quiet", "lucky", "bold", "shy", "wild", "urban", "rainy")
_NOUNS = ("otter", "heron", "fox", "lynx", "owl", "crow", "seal", "wren", "bison", "panda", "koi", "yak")
_FILTERS = ("Normal", "Valencia", "X-Pro II", "Lo-fi", "Earlybird", "Hefe", "Nashville", "Toaster", "Walden")
_CAPTIONS = (
    "Golden hour over {city}",
    "Coffee & rain in {city} <3",
    "\"Best view in town\" they said",
    "<b>not bold</b>, just {city}",
    "Fish 'n' chips & a walk",
    "Street art near the station",
    "Sunday market finds",
    "Late train home #nofilter",
)
_TAGS = ("sunset", "citylife", "streetphotography", "travel", "food", "architecture", "skyline", "nofilter")


@dataclass(frozen=True)
class Geography:
    id: str
    name: str  # URL-safe, used in image paths (/media/<name>/...)
    title: str  # shown on the placeholder and as location.name
    latitude: float
    longitude: float
    radius: float  # metres


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


class IdClock:
    """Media ids: decimal strings that always increase, also across simulator restarts (they start from the clock),
    so a backend that remembers a min_id from an earlier run still sees new pictures."""

    def __init__(self) -> None:
        self._last = 0

    def next_id(self) -> str:
        self._last = max(self._last + 1, time.time_ns() // 1000)
        return str(self._last)


class MediaFactory:
    """Makes media items; every random choice comes from one seeded generator."""

    def __init__(self, rng: random.Random, media_base: str, ids: IdClock | None = None) -> None:
        self.rng = rng
        self.media_base = media_base
        self.ids = ids or IdClock()

    def username(self) -> str:
        return f"{self.rng.choice(_ADJECTIVES)}_{self.rng.choice(_NOUNS)}{self.rng.randint(1, 99)}"

    def make(self, geography: Geography) -> dict[str, Any]:
        rng = self.rng
        media_id = self.ids.next_id()
        now = str(int(time.time()))
        username = self.username()
        user = {
            "id": str(rng.randint(1_000_000, 9_999_999)),
            "username": username,
            "full_name": " ".join(part.rstrip("0123456789").title() for part in username.split("_")),
            "profile_picture": f"{self.media_base}/media/users/{username}.svg",
        }
        latitude, longitude = self._point_near(geography)
        caption = None
        if rng.random() < 0.8:
            text = rng.choice(_CAPTIONS).format(city=geography.title)
            caption = {"id": media_id + "1", "created_time": now, "text": text,
                       "from": {k: user[k] for k in ("id", "username", "full_name", "profile_picture")}}
        images = {kind: {"url": f"{self.media_base}/media/{geography.name}/{media_id}_{username}_{size}.svg",
                         "width": size, "height": size} for kind, size in SIZES.items()}
        return {
            "id": media_id,
            "type": "image",
            "created_time": now,
            "link": images["standard_resolution"]["url"],
            "tags": rng.sample(_TAGS, rng.randint(0, 3)),
            "filter": rng.choice(_FILTERS),
            "images": images,
            "user": user,
            "caption": caption,
            "likes": {"count": rng.randint(0, 250)},
            "comments": {"count": rng.randint(0, 30)},
            "location": {"latitude": latitude, "longitude": longitude, "name": geography.title,
                         "id": geography.id},
        }

    def _point_near(self, geography: Geography) -> tuple[float, float]:
        # Uniform over the disc: the distance grows with the square root of a uniform draw.
        radius = min(geography.radius, MAX_RADIUS_M)
        distance = radius * math.sqrt(self.rng.random()) * 0.999  # stays inside after rounding
        bearing = self.rng.uniform(0, 2 * math.pi)
        dlat = distance * math.cos(bearing) / EARTH_RADIUS_M
        dlng = distance * math.sin(bearing) / (EARTH_RADIUS_M * math.cos(math.radians(geography.latitude)))
        return round(geography.latitude + math.degrees(dlat), 6), round(geography.longitude + math.degrees(dlng), 6)
