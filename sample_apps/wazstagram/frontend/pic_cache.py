"""The newest pictures per city and for the universe, so a browser that picks a city first sees what came before."""

from __future__ import annotations

from collections import deque

from sample_apps.wazstagram.cities import UNIVERSE


class PictureCache:
    """Each city's list and the universe list keep the newest `size` pic strings, oldest first."""

    def __init__(self, size: int = 150) -> None:
        self.size = size
        self._lists: dict[str, deque[str]] = {}

    def add(self, city: str, pic: str) -> None:
        for name in {city, UNIVERSE}:  # a message for "universe" itself is kept once
            self._lists.setdefault(name, deque(maxlen=self.size)).append(pic)

    def replay(self, city: str) -> list[str]:
        """What a socket joining `city` is sent first: oldest first, so the page ends with the newest on top."""
        return list(self._lists.get(city, ()))
