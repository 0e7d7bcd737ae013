"""The simulator's state: geographies, their recent media, and realtime subscriptions (kept in this one worker)."""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any

from sample_apps.wazstagram.cities import CITIES
from sample_apps.wazstagram.instagram_sim.media import MAX_RADIUS_M, Geography, MediaFactory, distance_m

# A subscription within this distance of one of the eight cities gets that city's geography id.
CITY_MATCH_M = 1_000.0
FIRST_CUSTOM_GEOGRAPHY = 1_465_600
FIRST_SUBSCRIPTION = 2_365_425


@dataclass(frozen=True)
class Subscription:
    id: str
    client_id: str
    object_id: str  # the geography id
    callback_url: str
    verify_token: str

    def as_json(self) -> dict[str, Any]:
        return {"object": "geography", "object_id": self.object_id, "aspect": "media",
                "callback_url": self.callback_url, "type": "subscription", "id": self.id}


class InstagramStore:
    """Everything Instagram would have kept on its side, for one simulator process."""

    def __init__(self, factory: MediaFactory, keep_items: int = 200, initial_items: int = 5) -> None:
        self.factory = factory
        self.keep_items = keep_items
        self.initial_items = initial_items
        self.geographies: dict[str, Geography] = {}
        self._media: dict[str, deque[dict[str, Any]]] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self._next_geography = itertools.count(FIRST_CUSTOM_GEOGRAPHY)
        self._next_subscription = itertools.count(FIRST_SUBSCRIPTION)

    # -- geographies and media ----------------------------------------------------------------

    def geography_at(self, latitude: float, longitude: float, radius: float) -> Geography:
        """The geography for a subscription's point: one of the eight cities, or a new one."""
        radius = min(radius, MAX_RADIUS_M)
        for city in CITIES:
            if distance_m(latitude, longitude, city.latitude, city.longitude) <= CITY_MATCH_M:
                return self._known(Geography(city.geography_id, city.name, city.title, city.latitude,
                                             city.longitude, radius))
        for geography in self.geographies.values():
            if (geography.latitude, geography.longitude, geography.radius) == (latitude, longitude, radius):
                return geography
        geography_id = str(next(self._next_geography))
        return self._known(Geography(geography_id, f"geo-{geography_id}", f"{latitude:.4f}, {longitude:.4f}",
                                     latitude, longitude, radius))

    def _known(self, geography: Geography) -> Geography:
        if geography.id not in self.geographies:
            self.geographies[geography.id] = geography
            self._media[geography.id] = deque(maxlen=self.keep_items)
            self.add_media(geography.id, self.initial_items)
        return self.geographies[geography.id]

    def add_media(self, geography_id: str, count: int) -> list[dict[str, Any]]:
        geography = self.geographies[geography_id]
        items = [self.factory.make(geography) for _ in range(count)]
        self._media[geography_id].extend(items)
        return items

    def recent(self, geography_id: str, min_id: int | None, count: int) -> list[dict[str, Any]] | None:
        """Newest first, only ids above min_id; None for an unknown geography."""
        media = self._media.get(geography_id)
        if media is None:
            return None
        newer = [item for item in reversed(media) if min_id is None or int(item["id"]) > min_id]
        return newer[:count]

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(self, client_id: str, geography: Geography, callback_url: str, verify_token: str) -> Subscription:
        """Store a subscription. The same callback for the same geography is one subscription: several backend
        workers (or a reloaded backend) registering again get the existing id back instead of a duplicate."""
        existing = next((s for s in self.subscriptions.values()
                         if s.callback_url == callback_url and s.object_id == geography.id), None)
        subscription_id = existing.id if existing else str(next(self._next_subscription))
        subscription = Subscription(subscription_id, client_id, geography.id, callback_url, verify_token)
        self.subscriptions[subscription_id] = subscription
        return subscription

    def subscriptions_of(self, client_id: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.client_id == client_id]

    def subscriptions_for(self, geography_id: str) -> list[Subscription]:
        return [s for s in self.subscriptions.values() if s.object_id == geography_id]

    def unsubscribe(self, client_id: str, subscription_id: str | None = None, everything: bool = False) -> int:
        doomed = [s.id for s in self.subscriptions_of(client_id) if everything or s.id == subscription_id]
        for subscription_id in doomed:
            del self.subscriptions[subscription_id]
        return len(doomed)

    def subscribed_geographies(self) -> list[str]:
        return sorted({s.object_id for s in self.subscriptions.values()})
