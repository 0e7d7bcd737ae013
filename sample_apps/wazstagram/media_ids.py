"""Which of two Instagram media ids is newer: ids grow with time ("1359500000123", or v1's "<media>_<user>")."""

from __future__ import annotations


def id_order(media_id: object) -> int | None:
    """The number that orders an id, or None for an id that is not one we can order."""
    if not isinstance(media_id, str):
        return None
    head = media_id.split("_", 1)[0]
    return int(head) if head.isascii() and head.isdigit() else None


def newest_of(*media_ids: str | None) -> str | None:
    """The newest of the ids that can be ordered (None when there is none)."""
    ordered = [(order, media_id) for media_id in media_ids if (order := id_order(media_id)) is not None]
    return max(ordered)[1] if ordered else None
