"""Instagram's X-Hub-Signature: the lowercase hex HMAC-SHA1 of a notification's raw body, keyed with the client secret."""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """True only for the exact lowercase hex digest (Instagram sent no "sha1=" prefix)."""
    if header is None:
        return False
    # compare_digest refuses non-ASCII str; a garbage header must simply not match.
    return hmac.compare_digest(header.encode("utf-8", "replace"), sign(secret, body).encode("ascii"))
