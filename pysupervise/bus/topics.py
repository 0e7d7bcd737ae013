"""The embedded broker's durable subscriptions: bounded per-subscription queues and the receivers waiting on them."""

from __future__ import annotations

from collections import deque
from typing import Iterator, Protocol


class Waiter(Protocol):
    """A receive() parked on an empty subscription, owned by one broker connection."""

    def deliver(self, message: bytes | None) -> bool:
        """Answer the receive with message (None: nothing came). False if the receiver is gone."""
        ...


class Subscription:
    def __init__(self, name: str, max_waiting: int) -> None:
        self.name = name
        self.max_waiting = max_waiting
        self.dropped = 0
        self.messages: deque[bytes] = deque()
        self.waiters: deque[Waiter] = deque()

    def push(self, message: bytes) -> None:
        # Hand the message straight to the longest-waiting receiver, skipping receivers whose
        # connection died; only when nobody takes it does it join the queue.
        while self.waiters:
            if self.waiters.popleft().deliver(message):
                return
        if len(self.messages) >= self.max_waiting:
            self.messages.popleft()
            self.dropped += 1
        self.messages.append(message)

    def push_front(self, message: bytes) -> None:
        """Put back a message whose receiver could not take it: it was the oldest, so it goes first."""
        while self.waiters:
            if self.waiters.popleft().deliver(message):
                return
        if len(self.messages) >= self.max_waiting:
            self.dropped += 1  # it is the oldest one, so it is the one to drop
            return
        self.messages.appendleft(message)

    def pop(self) -> bytes | None:
        return self.messages.popleft() if self.messages else None

    def park(self, waiter: Waiter) -> None:
        self.waiters.append(waiter)

    def unpark(self, waiter: Waiter) -> None:
        try:
            self.waiters.remove(waiter)
        except ValueError:
            pass

    def close(self) -> None:
        """The subscription is being deleted: its parked receivers get 'nothing came'."""
        waiters, self.waiters = self.waiters, deque()
        for waiter in waiters:
            waiter.deliver(None)
        self.messages.clear()


class TopicStore:
    """topic → {subscription name → Subscription}; a topic exists while it has subscriptions."""

    def __init__(self, max_waiting: int) -> None:
        if max_waiting < 1:
            raise ValueError("max_waiting must be at least 1")
        self.max_waiting = max_waiting
        self._topics: dict[str, dict[str, Subscription]] = {}

    def create(self, topic: str, name: str) -> Subscription:
        subscriptions = self._topics.setdefault(topic, {})
        subscription = subscriptions.get(name)
        if subscription is None:
            subscription = subscriptions[name] = Subscription(name, self.max_waiting)
        return subscription

    def delete(self, topic: str, name: str) -> bool:
        subscriptions = self._topics.get(topic)
        if not subscriptions or name not in subscriptions:
            return False
        subscriptions.pop(name).close()
        if not subscriptions:
            del self._topics[topic]  # forget empty topics so memory follows live subscriptions
        return True

    def get(self, topic: str, name: str) -> Subscription | None:
        subscriptions = self._topics.get(topic)
        return subscriptions.get(name) if subscriptions else None

    def publish(self, topic: str, message: bytes) -> int:
        subscriptions = self._topics.get(topic)
        if not subscriptions:
            return 0
        for subscription in subscriptions.values():
            subscription.push(message)
        return len(subscriptions)

    def subscriptions(self, topic: str) -> list[Subscription]:
        return sorted(self._topics.get(topic, {}).values(), key=lambda s: s.name)

    def topics(self) -> Iterator[tuple[str, list[Subscription]]]:
        for topic in sorted(self._topics):
            yield topic, self.subscriptions(topic)

    def close(self) -> None:
        for subscriptions in self._topics.values():
            for subscription in subscriptions.values():
                subscription.close()
        self._topics.clear()
