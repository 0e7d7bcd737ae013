"""The exceptions every bus and cache backend raises, so apps catch one family whatever the URL."""

from __future__ import annotations

import time


class BusError(Exception):
    """Base class: something about the bus or cache went wrong."""


class BusUnavailable(BusError):
    """The broker or Redis cannot be reached, did not answer in time, or the connection was lost mid-request.

    The client reconnects by itself on a later call; a request that failed with this error
    may or may not have been applied (a publish is only acknowledged once it returns). While
    the bus is known to be silent, calls fail at once with this error (web apps: answer 503).
    """


class MessagesMissed(BusError):
    """A channel subscription was cut off for a while and is live again: messages published on
    the channel between `since` and `until` (Unix times) may never arrive.

    Raised once, by the get() (or the `async for` step) that reaches the place of the gap in the
    stream; the subscription stays open, so catch it, re-read any state you keep, and read on.
    """

    def __init__(self, channel: str, since: float, until: float, reason: str) -> None:
        self.channel = channel
        self.since = since
        self.until = until
        self.reason = reason
        super().__init__(
            f"channel {channel!r}: messages published during {until - since:.1f}s, from "
            f"{time.strftime('%H:%M:%S', time.localtime(since))} to {time.strftime('%H:%M:%S', time.localtime(until))}, "
            f"may have been missed ({reason}); the subscription is live again"
        )

    def merged(self, later: MessagesMissed) -> MessagesMissed:
        """One report for two gaps with no message between them."""
        return MessagesMissed(self.channel, min(self.since, later.since), max(self.until, later.until), later.reason)


class BusConfigError(BusError, ValueError):
    """The bus URL is missing or malformed."""


class NoSuchSubscription(BusError, LookupError):
    """receive() named a subscription that does not exist on that topic."""


class NotAnInteger(BusError, ValueError):
    """incr() was asked to add to a cache value that is not a decimal integer."""
