"""The collector's mParticle format (pure): auth, routes, limits, batch and event checks, answers."""

from __future__ import annotations

import base64
import json
from typing import Any, Dict

import pytest

from analytics_sdk.devtools.api_rules.mparticle import Settings, answer, check_batch, check_event, credentials

AUTH = {"Authorization": "Basic " + base64.b64encode(b"key:secret").decode()}


def batch(**fields: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {"environment": "production", "user_identities": {"customer_id": "u1"},
                           "events": [{"data": {"event_name": "E", "custom_event_type": "other"},
                                       "event_type": "custom_event"}]}
    out.update(fields)
    return out


def post(path: str, body: Any, headers: Dict[str, str] = AUTH, settings: Settings = Settings()) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return answer(path, headers, raw, settings)


def test_a_good_batch_is_accepted_with_202_and_kept() -> None:
    result = post("/v2/events", batch())
    assert (result.status, result.body, result.api_key) == (202, b"", "key")
    assert result.batches == [batch()]


@pytest.mark.parametrize("headers, status", [({}, 401), ({"Authorization": "Basic !!"}, 401),
                                             ({"Authorization": "Basic " + base64.b64encode(b"key:").decode()}, 401),
                                             ({"authorization": "Basic " + base64.b64encode(b"key:nope").decode()}, 403)])
def test_auth(headers: Dict[str, str], status: int) -> None:
    result = post("/v2/events", batch(), headers, Settings(keys={"key": "secret"}))
    assert result.status == status and json.loads(result.body)["errors"][0]["message"]
    assert credentials(AUTH["Authorization"]) == ("key", "secret")


def test_request_level_refusals() -> None:
    assert post("/v1/batch", batch()).status == 404
    assert post("/v2/events", b"{nope").status == 400
    assert post("/v2/events", [batch()]).status == 400
    assert post("/v2/bulkevents", batch()).status == 400
    assert post("/v2/bulkevents", [batch()] * 101).status == 400
    assert post("/v2/bulkevents", b"[" + b" " * 262_144 + b"]").status == 413


def test_throttle_fault_answers_429_with_retry_after() -> None:
    result = post("/v2/events", batch(), settings=Settings(throttle_retry_after=2))
    assert result.status == 429 and result.headers["Retry-After"] == "2"


BAD = {
    "environment": batch(environment="staging"),
    "no user": batch(user_identities={}),
    "unknown identity": batch(user_identities={"skype": "x"}),
    "nested user attribute": batch(user_attributes={"a": {"b": 1}}),
    "ccpa purpose": batch(consent_state={"ccpa": {"sale": {"consented": True}}}),
    "consented": batch(consent_state={"gdpr": {"ads": {"consented": "yes"}}}),
    "too big": batch(user_attributes={"a": "x" * 140_000}),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_batches_get_400_with_errors(case: str) -> None:
    result = post("/v2/events", BAD[case])
    assert result.status == 400 and result.batches == []
    (error,) = json.loads(result.body)["errors"]
    assert error["code"] == "BAD_REQUEST" and error["message"] == check_batch(BAD[case])


def test_other_ids_count_as_the_user_and_customerid_is_taken() -> None:
    assert check_batch(batch(user_identities={}, mp_deviceid="d")) is None
    assert check_batch(batch(user_identities={}, device_info={"ios_idfv": "x"})) is None
    assert check_batch(batch(user_identities={"customerid": "u1"})) is None


@pytest.mark.parametrize("event, words", [
    ({"event_type": "click", "data": {}}, "not an mParticle event type"),
    ({"event_type": "custom_event", "data": {"custom_event_type": "other"}}, "event_name"),
    ({"event_type": "custom_event", "data": {"event_name": "E", "custom_event_type": "fun"}}, "custom_event_type"),
    ({"event_type": "screen_view", "data": {}}, "screen_name"),
    ({"event_type": "commerce_event", "data": {}}, "product_action"),
    ({"event_type": "commerce_event", "data": {"product_action": {"action": "buy"}}}, "product action"),
    ({"event_type": "application_state_transition", "data": {}}, "application_transition_type"),
    ({"event_type": "session_start", "data": {"custom_attributes": {"a": [1]}}}, "custom_attributes.a"),
    ({"event_type": "session_end", "data": {"timestamp_unixtime_ms": "now"}}, "integer"),
    ({"event_type": "session_start"}, "data must be an object"),
])
def test_event_checks(event: Dict[str, Any], words: str) -> None:
    assert words in (check_event(event) or "")


def test_bulk_keeps_good_batches_and_answers_202_like_mparticle() -> None:
    bad = batch(environment="staging")
    result = post("/v2/bulkevents", [batch(), bad, batch()])
    assert result.status == 202 and len(result.batches) == 2
    assert result.rejected == [(1, check_batch(bad))]
    strict = post("/v2/bulkevents", [batch(), bad], settings=Settings(strict_bulk=True))
    assert strict.status == 400 and strict.batches == []
    assert json.loads(strict.body)["errors"][0]["message"].startswith("batch 1: environment")
