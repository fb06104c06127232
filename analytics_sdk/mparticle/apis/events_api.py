"""``EventsApi``, where the reference has it (``mparticle.apis.events_api``): uploads
with the reference's meaning, and our delivery.

``upload_events(batch)`` posts to ``/events`` and ``bulk_upload_events([...])``
to ``/bulkevents``; both return ``(None, status, {})`` once mParticle
accepted, or raise :class:`ApiException`. Unlike the reference they time out
(``Configuration.timeout``), retry 429 (after ``Retry-After``), 408, 5xx and
network errors with backoff, and a 429 delays only the call that got it. With
``Configuration.background = True`` they queue and return None at once.
"""

from __future__ import annotations

import threading
import time
from http.client import responses
from typing import Any, Dict, List, Optional, Tuple

from ...delivery.retry import RetryPolicy, Verdict, classify, parse_retry_after
from ...delivery.transport import Attempt, make_transport
from ...stamps import new_message_id
from ...json_codec import encode
from ..api_client import ApiClient
from ..background import BackgroundLane
from ..configuration import Configuration
from ..models.base import to_wire
from ..rest import ApiException, RESTResponse

__all__ = ["EventsApi"]

MAX_BULK_BATCHES = 100
_KWARGS = {"callback", "_return_http_data_only"}


class EventsApi:
    """Uploads batches to mParticle's Events API (drop-in for ``mparticle.EventsApi``)."""

    def __init__(self, config: Optional[Configuration] = None) -> None:
        self.config = config if config is not None else Configuration()
        if not self.config.api_client:
            self.config.api_client = ApiClient(configuration=self.config)
        self.api_client = self.config.api_client
        # Reentrant: a signal handler's upload may interrupt one on its own thread here.
        self._lock = threading.RLock()
        self._transports: Dict[Tuple[Any, ...], Any] = {}
        self._lane: Optional[BackgroundLane] = None

    # -- the reference's calls ----------------------------------------------------------

    def upload_events(self, body: Any, **kwargs: Any) -> Any:
        """Send one :class:`Batch` to ``/events``."""
        return self._call("upload_events", "/events", body, False, kwargs)

    def bulk_upload_events(self, body: Any, **kwargs: Any) -> Any:
        """Send a list of up to 100 batches to ``/bulkevents``."""
        return self._call("bulk_upload_events", "/bulkevents", body, True, kwargs)

    upload_events_with_http_info = upload_events
    bulk_upload_events_with_http_info = bulk_upload_events

    # -- ours ------------------------------------------------------------------------------

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Background mode: wait until what was queued before reached an outcome."""
        lane = self._lane
        return lane.flush(timeout) if lane is not None else True

    def shutdown(self, timeout: Optional[float] = None) -> bool:
        """Background mode: deliver what is queued (within ``timeout``), then stop."""
        lane = self._lane
        return lane.shutdown(timeout) if lane is not None else True

    def stats(self) -> Dict[str, Any]:
        lane = self._lane
        return lane.stats() if lane is not None else {}

    # -- internals ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any, bulk: bool, kwargs: Dict[str, Any]) -> Any:
        unknown = set(kwargs) - _KWARGS
        if unknown:
            raise TypeError(f"Got an unexpected keyword argument {sorted(unknown)[0]!r} to method {method}")
        if body is None:
            raise ValueError(f"Missing the required parameter `body` when calling `{method}`")
        batches = self._batches(method, body, bulk)
        callback = kwargs.get("callback")
        if self.config.background:
            self._background().put(batches, callback)
            return None
        # Encoded now, on the caller's thread: the bytes are the snapshot every retry resends.
        data = encode(batches if bulk else batches[0])
        only_data = bool(kwargs.get("_return_http_data_only"))
        if callback is None:
            return self._result(self._send(path, data), only_data)
        thread = threading.Thread(target=self._call_back, args=(path, data, only_data, callback), daemon=True)
        thread.start()
        return thread

    def _batches(self, method: str, body: Any, bulk: bool) -> List[Dict[str, Any]]:
        items = list(body) if bulk else [body]
        if bulk and len(items) > MAX_BULK_BATCHES:
            raise ValueError(f"{method}: {len(items)} batches; mParticle takes at most {MAX_BULK_BATCHES} per request")
        batches = []
        for item in items:
            wire = to_wire(item)
            if not isinstance(wire, dict):
                raise ValueError(f"{method}: a batch must be a Batch (or dict), got {type(item).__name__}")
            if (self.config.add_source_request_id or self.config.background) and not wire.get("source_request_id"):
                # mParticle drops a resent duplicate by this id; a UUID from the private generator
                # (uuid4 reads os.urandom, which hands the GIL to the uploader mid-call).
                wire["source_request_id"] = new_message_id()
            batches.append(wire)
        return batches

    def _background(self) -> BackgroundLane:
        with self._lock:
            if self._lane is None:
                lane = BackgroundLane(self.config)
                if self._lane is None:
                    self._lane = lane
                else:  # a signal handler made one meanwhile, and may have queued batches there
                    lane.shutdown(0)
            return self._lane

    def _transport(self, path: str) -> Any:
        # Read at each call, as the reference does: a header, host or key changed after
        # the first upload applies to the next (one transport per distinct setting).
        config, client = self.config, self.api_client
        url = client.host.rstrip("/") + path
        headers = {
            **client.default_headers,
            "Authorization": config.get_basic_auth_token(),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        if client.cookie:
            headers["Cookie"] = client.cookie
        key = (url, tuple(sorted(headers.items())), str(config.verify), str(config.timeout), str(config.proxies))
        with self._lock:
            transport = self._transports.get(key)
            if transport is None:
                if config.cert_file or config.key_file:
                    # Our transport sends no client certificate: say so rather than ignore it silently.
                    config.logger["package_logger"].warning(
                        "mParticle drop-in: configuration.cert_file/key_file (a TLS client certificate) are not "
                        "supported; uploads go without one")
                made = make_transport(url, headers, timeout=config.timeout, proxies=config.proxies,
                                      verify=config.verify)
                transport = self._transports.setdefault(key, made)  # (a signal handler's, if it made one meanwhile)
            return transport

    def _send(self, path: str, data: bytes) -> Attempt:
        """POST until accepted; raise ApiException when refused or out of retries."""
        config = self.config
        transport = self._transport(path)
        state = None
        while True:
            attempt = transport.send(data)
            verdict = classify(attempt.status)
            if verdict is Verdict.DELIVERED:
                # As the reference: the last accepted answer (a failure raises, leaving it as it was).
                self.api_client.last_response = _response(attempt)
                return attempt
            if verdict is Verdict.RETRY:
                if state is None:
                    policy = RetryPolicy(max_retries=config.max_retries, max_elapsed=config.max_total_backoff_duration,
                                         max_retry_after=config.max_retry_after)
                    state = policy.start()
                delay = state.next_delay(parse_retry_after(attempt.retry_after))
                if delay is not None:
                    time.sleep(delay)
                    continue
            # state.attempts counts the failed attempts, the first one included.
            raise _exception(attempt, state.attempts - 1 if state is not None else 0)

    @staticmethod
    def _result(attempt: Attempt, only_data: bool) -> Any:
        return None if only_data else (None, attempt.status, {})

    def _call_back(self, path: str, data: bytes, only_data: bool, callback: Any) -> None:
        try:
            result = self._result(self._send(path, data), only_data)
        except ApiException as exc:
            callback(exc)
            return
        callback(result)


def _response(attempt: Attempt) -> RESTResponse:
    # Our HTTP client reads only the headers delivery needs: the reason phrase is
    # the standard one, and Retry-After is the header kept.
    headers = {"Retry-After": attempt.retry_after} if attempt.retry_after else {}
    status = attempt.status or 0
    return RESTResponse(status, responses.get(status, ""), attempt.body.decode("utf-8", "replace"), headers)


def _exception(attempt: Attempt, retries: int) -> ApiException:
    tried = f" after {retries} {'retry' if retries == 1 else 'retries'}" if retries else ""
    if attempt.status is None:
        return ApiException(status=0, reason=f"no response{tried}: {attempt.error}")
    error = ApiException(http_resp=_response(attempt))
    error.reason = f"{error.reason}{tried}"
    return error
