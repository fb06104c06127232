"""``amplitude.config``: ``Config``, every option of ``amplitude-analytics``'s Config plus
the Go SDK's extras.

As in the reference, the client reads its configuration when it uses it: a
setting assigned after ``Amplitude(...)`` was created (``client.configuration.api_key
= ...``, as Amplitude's docs show) applies from the next event on. Assigning a
setting the pipeline uses bumps ``Config._version``; the client compares it with
the version it applied, once per event, and applies the changes then (and at
``flush()``). Events already queued are sent with the settings in force when they
are sent, as with the reference. The one exception is ``storage_provider``: it is
read when the client builds its pipeline (at its first event); a change after
that is logged as a warning and applies to a new client only.

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
event_log_level             level of the ``logger`` line for events    INFO
                            not delivered (NONE: no such line)
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

import itertools
import logging
from typing import Any, Callable, Optional

from . import constants
from .constants import EventLogLevel
from .event import IngestionMetadata, Plan
from .storage import InMemoryStorageProvider, SpoolStorageProvider, Storage, StorageProvider

__all__ = ["Config", "EventLogLevel", "StorageProvider", "InMemoryStorageProvider", "SpoolStorageProvider",
           "PIPELINE_SETTINGS"]

# Settings the client's pipeline reads (the others are read per event). ``_url`` is
# what the ``server_url`` setter stores.
PIPELINE_SETTINGS = frozenset((
    "api_key", "server_zone", "use_batch", "_url", "min_id_length", "flush_queue_size", "flush_interval_millis",
    "flush_max_retries", "storage_provider", "retry_base_interval", "retry_throttled_interval",
    "connection_timeout", "max_storage_capacity", "flush_timeout",
))
_versions = itertools.count(1)  # one sequence for every Config: a replaced Config never matches


class Config:
    _version = 0  # bumped by every assignment of a PIPELINE_SETTINGS name
    _bound = False  # a client built its pipeline from this Config: storage_provider is fixed

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in PIPELINE_SETTINGS:
            object.__setattr__(self, "_version", next(_versions))
            if name == "storage_provider" and self._bound:
                self.logger.warning(
                    "Config.storage_provider was changed after the client sent its first event: events keep "
                    "waiting where they did; the new provider applies to a new Amplitude client only"
                )

    def __init__(
        self,
        api_key: Optional[str] = None,
        flush_queue_size: int = constants.FLUSH_QUEUE_SIZE,
        flush_interval_millis: int = constants.FLUSH_INTERVAL_MILLIS,
        flush_max_retries: int = constants.FLUSH_MAX_RETRIES,
        logger: Optional[logging.Logger] = None,
        min_id_length: Optional[int] = None,
        callback: Optional[Callable[[Any, int, Optional[str]], Any]] = None,
        server_zone: str = constants.DEFAULT_ZONE,
        use_batch: bool = False,
        server_url: Optional[str] = None,
        storage_provider: Optional[StorageProvider] = None,
        plan: Optional[Plan] = None,
        ingestion_metadata: Optional[IngestionMetadata] = None,
        event_log_level: EventLogLevel = EventLogLevel.INFO,
        *,
        retry_base_interval: float = 0.1,
        retry_throttled_interval: float = 30.0,
        connection_timeout: float = constants.CONNECTION_TIMEOUT,
        max_storage_capacity: int = constants.MAX_BUFFER_CAPACITY,
        flush_timeout: Optional[float] = None,
    ) -> None:
        self.api_key = api_key
        self.flush_queue_size = flush_queue_size
        self.flush_interval_millis = flush_interval_millis
        self.flush_max_retries = flush_max_retries
        self.logger = logger or logging.getLogger(constants.LOGGER_NAME)
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

    def get_storage(self) -> Storage:
        return self.storage_provider.get_storage()

    @property
    def server_url(self) -> str:
        """``server_url`` if set, else the endpoint of ``server_zone`` and ``use_batch``
        ("" for a zone that is neither "US" nor "EU")."""
        if self._url:
            return self._url
        zone = constants.SERVER_URL.get(self.server_zone.upper() if isinstance(self.server_zone, str) else "")
        return zone[constants.BATCH if self.use_batch else constants.HTTP_V2] if zone else ""

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
