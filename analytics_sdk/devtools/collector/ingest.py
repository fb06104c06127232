"""From a request body to stored messages: decode, authenticate, split, check, store.

HTTP framing and faults are the handler's job; what a format accepts is the
format's. A message the format's code cannot even inspect is rejected alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from dataclasses import field
from typing import Any, Dict, List, Optional, Tuple

from .bodies import inflate
from .formats import Format, Headers, Outcome, RequestError, Settings, basic_auth
from .store import Accepted, EventStore, Rejected, RequestRecord
from .secrets import mask_in_text, redact_headers

__all__ = ["Ingest", "ingest"]


@dataclass
class Ingest:
    """The answer to one POST and what the request log should say about it."""

    status: int
    body: Dict[str, Any]
    messages: int = 0
    headers: Dict[str, str] = field(default_factory=dict)


def _decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:  # a legal but absurdly nested body must not become a traceback
        raise RequestError(400, "body is nested too deeply") from None
    except ValueError:  # includes bytes that are not UTF-8/16/32
        raise RequestError(400, "body is not valid JSON") from None


def ingest(
    store: EventStore,
    fmt: Format,
    path: str,
    headers: Headers,
    raw: bytes,
    body_limit: int,
    write_key: Optional[str],
    poison: Optional[str] = None,
    settings: Optional[Settings] = None,
) -> Ingest:
    received_at = time.time()
    record = RequestRecord(fmt.name, "POST", path, 0, redact_headers(headers), len(raw), received_at=received_at)
    settings = settings or Settings(write_key=write_key)
    key = ""
    # Any credential an error message might quote ("Invalid API key: ..."), masked before it is stored.
    secrets = [write_key, settings.write_secret, *basic_auth(headers.get("Authorization", ""))]
    try:
        if headers.get("Content-Encoding", "").strip().lower() == "gzip":
            raw = inflate(raw, body_limit)
        body = _decode_json(raw)
        key = fmt.credential(headers, body)
        if write_key is not None and key != write_key:
            raise fmt.credential_refusal(key)
        batch = fmt.messages(path, body)
        record.messages = len(batch)
        if poison is not None and poison.encode("utf-8") in raw:
            raise RequestError(400, "poison marker found")
    except RequestError as refused:
        record.status, record.error = refused.status, mask_in_text(refused.reason, [key, *secrets])
        store.record_refused(record)
        return Ingest(refused.status, fmt.error_body(refused.status, refused.reason), record.messages)

    accepted, rejected, rejected_at = _check_each(fmt, path, body, headers, batch, received_at)
    outcome = Outcome(
        len(accepted), list(zip(rejected_at, [r.reason for r in rejected])),
        path, headers, raw, settings,
    )
    status, answer, *extra = fmt.response(outcome)
    record.status = status
    if not 200 <= status < 300:
        # The backend took nothing (Amplitude's all-or-nothing 400, a 429, a bad secret):
        # the client resends or drops, so nothing is stored as received.
        error = str(answer.get("error") or answer.get("errors") or f"answered {status}")
        record.error = (mask_in_text(error, [key, *secrets]) or error)[:500]
        accepted = []
    store.record(record, accepted, rejected, key)
    return Ingest(status, answer, len(batch), extra[0] if extra else {})


def _check_each(
    fmt: Format, path: str, body: Any, headers: Headers, batch: List[Any], received_at: float
) -> Tuple[List[Accepted], List[Rejected], List[int]]:
    """Each message checked and summarized alone: accepted, rejected, and the rejected ones' indexes."""
    accepted: List[Accepted] = []
    rejected: List[Rejected] = []
    rejected_at: List[int] = []
    check = fmt.checker(path, body)
    library = fmt.request_library(headers)
    for index, message in enumerate(batch):
        try:
            verdict = check(message)
            if verdict.rejection is None:
                summary = fmt.summarize(message, fallback_key=f"generated-{received_at}-{index}")
                summary.library = summary.library or library
                accepted.append(Accepted(message, summary, verdict.warnings))
                continue
            reason = verdict.rejection
        except Exception as exc:  # a format bug or an exotic value: this message only
            reason = f"collector could not read this message ({type(exc).__name__})"
        rejected.append(Rejected(message, reason))
        rejected_at.append(index)
    return accepted, rejected, rejected_at
