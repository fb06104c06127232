"""``Config``: every option of ``amplitude-analytics``'s Config, plus the Go SDK's extras.

Read when the ``Amplitude`` client is created, except ``callback``, ``opt_out``,
``plan``, ``ingestion_metadata`` and ``logger``, which are read per event.

==========================  =========================================  ====================
option                      what it does here                          default
==========================  =========================================  ====================
api_key                     the project key (in each request body)     set by ``Amplitude``
flush_queue_size            events per request (upload_size)           200
flush_interval_millis       longest wait for a fuller request          10 000
flush_max_retries           retries of a failing request               12
logger                      where this module logs                     ``amplitude`` logger
min_id_length               ``options.min_id_length`` on the wire      None
callback                    ``callback(event, code, message)``         None
server_zone / use_batch     endpoint choice                            "US" / False
server_url                  endpoint override                          None
storage_provider            ``SpoolStorageProvider(path)`` keeps the   in memory
                            backlog on disk; others are not used
plan / ingestion_metadata   added to events that have none             None
event_log_level             accepted (outcomes go to callbacks,        INFO
                            ``on_error`` and ``analytics_sdk`` logs)
opt_out                     send nothing while True                    False
retry_base_interval         Go ``RetryBaseInterval``: 1st backoff (s)  0.1
retry_throttled_interval    Go ``RetryThrottledInterval``: hold of a   30.0
                            throttled user/device after a 429, s
connection_timeout          Go ``ConnectionTimeout``: HTTP timeout, s  10.0
max_storage_capacity        Go ``MaxStorageCapacity``: queue bound     20 000
flush_timeout               bound of ``flush()`` (s; None: no bound)   None
==========================  =========================================  ====================
"""

from __future__ import annotations

import enum
import logging
from typing import Any, Callable, Optional

from .events import IngestionMetadata, Plan

__all__ = ["Config", "EventLogLevel", "StorageProvider", "InMemoryStorageProvider", "SpoolStorageProvider"]


class EventLogLevel(enum.Enum):
    NONE = 0
    DEBUG = 1
    INFO = 2


class StorageProvider:
    """Base of storage providers (accepted for compatibility)."""

    def get_storage(self) -> Any:  # pragma: no cover - compatibility surface
        return None


class InMemoryStorageProvider(StorageProvider):
    """Events wait in memory (the default)."""


class SpoolStorageProvider(StorageProvider):
    """Events wait in an SQLite file, surviving outages, crashes and restarts (our spool)."""

    def __init__(self, path: str, max_messages: int = 1_000_000) -> None:
        self.path = path
        self.max_messages = max_messages


class Config:
    def __init__(
        self,
        api_key: Optional[str] = None,
        flush_queue_size: int = 200,
        flush_interval_millis: int = 10_000,
        flush_max_retries: int = 12,
        logger: Optional[logging.Logger] = None,
        min_id_length: Optional[int] = None,
        callback: Optional[Callable[[Any, int, Optional[str]], Any]] = None,
        server_zone: str = "US",
        use_batch: bool = False,
        server_url: Optional[str] = None,
        storage_provider: Optional[StorageProvider] = None,
        plan: Optional[Plan] = None,
        ingestion_metadata: Optional[IngestionMetadata] = None,
        event_log_level: EventLogLevel = EventLogLevel.INFO,
        *,
        retry_base_interval: float = 0.1,
        retry_throttled_interval: float = 30.0,
        connection_timeout: float = 10.0,
        max_storage_capacity: int = 20_000,
        flush_timeout: Optional[float] = None,
    ) -> None:
        self.api_key = api_key
        self.flush_queue_size = flush_queue_size
        self.flush_interval_millis = flush_interval_millis
        self.flush_max_retries = flush_max_retries
        self.logger = logger or logging.getLogger("amplitude")
        self.min_id_length = min_id_length
        self.callback = callback
        self.server_zone = server_zone
        self.use_batch = use_batch
        self._url = server_url
        self.storage_provider = storage_provider or InMemoryStorageProvider()
        self.plan = plan
        self.ingestion_metadata = ingestion_metadata
        self.event_log_level = event_log_level
        self.opt_out = False
        self.retry_base_interval = retry_base_interval
        self.retry_throttled_interval = retry_throttled_interval
        self.connection_timeout = connection_timeout
        self.max_storage_capacity = max_storage_capacity
        self.flush_timeout = flush_timeout

    @property
    def server_url(self) -> str:
        if self._url:
            return self._url
        from ..destinations.amplitude import SERVER_URLS

        return SERVER_URLS.get((str(self.server_zone).upper(), bool(self.use_batch)), "")

    @server_url.setter
    def server_url(self, url: Optional[str]) -> None:
        self._url = url

    @property
    def options(self) -> Optional[dict]:
        if isinstance(self.min_id_length, int) and self.min_id_length > 0:
            return {"min_id_length": self.min_id_length}
        return None

    def is_min_id_length_valid(self) -> bool:
        return self.min_id_length is None or (isinstance(self.min_id_length, int) and self.min_id_length > 0)

    def is_valid(self) -> bool:
        return bool(self.api_key) and self.flush_queue_size > 0 and self.flush_interval_millis > 0 and (
            self.is_min_id_length_valid()
        )
