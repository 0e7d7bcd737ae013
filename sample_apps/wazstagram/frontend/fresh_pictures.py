"""Drops the pictures this frontend worker has already passed on, so a backend that lost its min_ids replays nothing."""

from __future__ import annotations

import json
from typing import Any

from sample_apps.wazstagram.media_ids import id_order


class FreshPictures:
    """Per city, the newest media id this worker has cached and sent; a message's older or equal pictures are cut.

    The backend keeps each city's min_id in the shared cache. After Redis restarts without persistence, its next
    fetch for a city has no min_id and returns Instagram's 20 latest pictures, most of them already shown. This
    worker's memory outlives the restart, so it is the one place that knows what its browsers already got.
    Pictures whose ids cannot be ordered are let through."""

    def __init__(self) -> None:
        self._newest: dict[str, int] = {}

    def only_new(self, city: str, pic: str) -> str | None:
        """`pic` itself when all of it is new (or it is no envelope with a data list: not ours to judge); the
        envelope without the pictures seen before, re-encoded, when only some are; None when nothing is new."""
        try:
            envelope: Any = json.loads(pic)
            items = envelope["data"]
        except (ValueError, KeyError, TypeError):
            return pic
        if not isinstance(items, list):
            return pic
        newest = self._newest.get(city)
        fresh = [item for item in items if not self._seen(item, newest)]
        orders = [order for item in fresh if (order := _order_of(item)) is not None]
        if orders:
            self._newest[city] = max(orders) if newest is None else max(newest, *orders)
        if not fresh:
            return None
        if len(fresh) == len(items):
            return pic  # the raw text, unchanged, as the backend published it
        return json.dumps({**envelope, "data": fresh})

    @staticmethod
    def _seen(item: Any, newest: int | None) -> bool:
        order = _order_of(item)
        return order is not None and newest is not None and order <= newest


def _order_of(item: Any) -> int | None:
    return id_order(item.get("id")) if isinstance(item, dict) else None
