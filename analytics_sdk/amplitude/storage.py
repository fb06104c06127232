"""``amplitude.storage``: the storage providers of ``amplitude-analytics``.

``Config.storage_provider`` chooses where events wait before they are sent:

* ``InMemoryStorageProvider`` (the default): in this SDK's bounded in-memory queue;
* ``SpoolStorageProvider(path)`` (this SDK's own): in an SQLite spool that survives
  outages, crashes and restarts.

Any other provider is accepted and logged as unused (events wait in memory). The
provider is read when the client sends its first event; a change after that is
logged as a warning and applies to a new ``Amplitude`` client only.
``get_storage()`` gives a ``Storage`` object, as in the reference, but the client
does not put its events there.
"""

from __future__ import annotations

import abc
import collections
import threading
from typing import Any, Deque, List, Optional, Tuple

__all__ = ["Storage", "StorageProvider", "InMemoryStorage", "InMemoryStorageProvider", "SpoolStorageProvider"]


class Storage(abc.ABC):
    """A buffer of events (the reference's interface)."""

    @abc.abstractmethod
    def push(self, event: Any, delay: int = 0) -> Tuple[bool, Optional[str]]:
        ...

    @abc.abstractmethod
    def pull(self, batch_size: int) -> List[Any]:
        ...

    @abc.abstractmethod
    def pull_all(self) -> List[Any]:
        ...


class StorageProvider(abc.ABC):
    """Makes the ``Storage`` of a client."""

    @abc.abstractmethod
    def get_storage(self) -> Storage:
        ...


class InMemoryStorage(Storage):
    """A plain thread-safe FIFO (what ``InMemoryStorageProvider.get_storage()`` returns)."""

    def __init__(self) -> None:
        self._events: Deque[Any] = collections.deque()
        self._lock = threading.Lock()

    @property
    def total_events(self) -> int:
        return len(self._events)

    def push(self, event: Any, delay: int = 0) -> Tuple[bool, Optional[str]]:
        with self._lock:
            self._events.append(event)
        return True, None

    def pull(self, batch_size: int) -> List[Any]:
        with self._lock:
            return [self._events.popleft() for _ in range(min(batch_size, len(self._events)))]

    def pull_all(self) -> List[Any]:
        with self._lock:
            events, self._events = list(self._events), collections.deque()
        return events


class InMemoryStorageProvider(StorageProvider):
    """Events wait in memory (the default)."""

    def get_storage(self) -> InMemoryStorage:
        return InMemoryStorage()


class SpoolStorageProvider(StorageProvider):
    """Events wait in an SQLite file, surviving outages, crashes and restarts (this SDK's spool)."""

    def __init__(self, path: str, max_messages: int = 1_000_000) -> None:
        self.path = path
        self.max_messages = max_messages

    def get_storage(self) -> InMemoryStorage:
        return InMemoryStorage()  # the spool itself belongs to the client's pipeline
