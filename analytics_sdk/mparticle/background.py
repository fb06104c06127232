"""The opt-in background mode: uploads go through our queue and uploader thread.

Each batch is queued on its own and sent with others in ``/v2/bulkevents``
(up to 100 per request), with the retry policy, ``Retry-After``, fork and exit
handling of every destination. A per-call ``callback`` keeps the reference's
meaning: called once per upload call, with ``(None, status, headers)`` when every
batch of the call was accepted, else with the :class:`ApiException` of the first failure.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Dict, List, Optional

from ..delivery.callbacks import DELIVERED_MESSAGE, Callbacks
from ..delivery.consumer import Consumer
from ..delivery.exit_delivery import register_exit_timeout
from ..delivery.outcomes import Outcomes
from ..delivery.reentry import hands_to_the_application
from ..delivery.retry import RetryPolicy
from ..delivery.transport import make_transport
from ..wire.mparticle import MParticleBatches
from .configuration import Configuration
from .rest import ApiException

__all__ = ["BackgroundLane"]

_REFUSED = {
    "queue_full": "the queue is full (max_queue_size); the batch was not queued",
    "client_closed": "shut down; the batch was not queued",
}


class _CallOutcome:
    """Collects the outcomes of one call's batches; calls the user's callback once."""

    def __init__(self, callback: Callable[[Any], Any], count: int) -> None:
        self._callback = callback
        self._left = count
        self._failure: Optional[ApiException] = None
        self._status = 202
        self._lock = threading.Lock()

    @hands_to_the_application
    def __call__(self, event: Dict[str, Any], code: int, message: str) -> None:
        with self._lock:
            if message == DELIVERED_MESSAGE:
                self._status = code
            elif self._failure is None:
                self._failure = ApiException(status=code, reason=message)
            self._left -= 1
            if self._left:
                return
        self._callback(self._failure if self._failure is not None else (None, self._status, {}))


class BackgroundLane:
    """A queue and uploader for one EventsApi's credentials and host."""

    def __init__(self, config: Configuration) -> None:
        self.destination = MParticleBatches(config.api_key, config.api_secret, host=config.host)
        self.callbacks = Callbacks(config.callback)
        self.outcomes = Outcomes(config.on_error, self.destination, self.callbacks)
        transport = make_transport(
            self.destination.url, self.destination.headers(), timeout=config.timeout, proxies=config.proxies,
            verify=config.verify,
        )
        self.consumer = Consumer(
            self.destination, transport, self.outcomes, max_queue_size=config.max_queue_size,
            upload_size=self.destination.max_events_per_request, upload_interval=config.upload_interval,
            retry_policy=RetryPolicy(),
        )
        register_exit_timeout(self.consumer, config.exit_timeout)

    def put(self, batches: List[Dict[str, Any]], callback: Optional[Callable[[Any], Any]]) -> None:
        """Queue ``batches`` (each with a ``source_request_id``); refusals are reported at once."""
        encoded = [self.destination.encode(batch) for batch in batches]
        if callback is not None:
            outcome = _CallOutcome(callback, len(batches))
            for batch in batches:
                self.callbacks.register(batch["source_request_id"], outcome, 1)
        limit = self.destination.max_event_bytes
        for data in encoded:
            if len(data) > limit:
                self.outcomes.drop("too_large", [data], f"{len(data)} bytes is over mParticle's {limit}-byte batch limit")
                continue
            refused = self.consumer.put(data)
            if refused is not None:
                self.outcomes.drop(refused, [data], _REFUSED.get(refused, refused))

    def flush(self, timeout: Optional[float] = None) -> bool:
        return self.consumer.flush(timeout)

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        return self.consumer.shutdown(timeout)

    def stats(self) -> Dict[str, Any]:
        return {"enqueued": self.consumer.enqueued, "queue_depth": self.consumer.depth, **self.outcomes.snapshot()}
