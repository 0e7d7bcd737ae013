"""The exceptions every bus and cache backend raises, so apps catch one family whatever the URL."""

from __future__ import annotations


class BusError(Exception):
    """Base class: something about the bus or cache went wrong."""


class BusUnavailable(BusError):
    """The broker or Redis cannot be reached, or the connection was lost mid-request.

    The client reconnects by itself on the next call; a request that failed with this error
    may or may not have been applied (a publish is only acknowledged once it returns).
    """


class BusConfigError(BusError, ValueError):
    """The bus URL is missing or malformed."""


class NoSuchSubscription(BusError, LookupError):
    """receive() named a subscription that does not exist on that topic."""


class NotAnInteger(BusError, ValueError):
    """incr() was asked to add to a cache value that is not a decimal integer."""
