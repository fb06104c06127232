"""``analytics_sdk.mparticle`` against the real ``mparticle`` package (the oracle):
the same model-building code, run through both against a loopback server, must
send the same request bodies to the same paths with the same auth; the extras
(retries, Retry-After, timeouts, background mode) are tested on their own."""

from __future__ import annotations

import socket
import threading
from typing import Any, Dict, List

import mparticle as reference
import pytest

import analytics_sdk.mparticle as ours
from analytics_sdk.devtools.api_rules.mparticle import Settings

from .mparticle_sink import Sink

IDFA = "6a2f41a3-c54c-fce8-32d2-0324e1c32e22"


def full_batch(mp: Any) -> Any:
    """A batch using every model the issue names, written as mParticle's docs show."""
    batch = mp.Batch()
    batch.environment = "development"
    batch.ip = "203.0.113.9"
    batch.user_identities = mp.UserIdentities(customerid="user-1", email="a@example.com", other_id_2="crm-7")
    batch.user_attributes = {"$firstname": "Ada", "$city": "London", "plan": "pro", "tags": ["a", "b"]}
    batch.device_info = mp.DeviceInformation(platform="iOS", os_version="17.2", ios_advertising_id=IDFA)
    batch.application_info = mp.ApplicationInformation(application_name="shop", application_version="1.2.3")
    consent = mp.ConsentState()
    consent.gdpr = {"marketing": mp.GDPRConsentState(document="v2", consented=True, timestamp_unixtime_ms=1700000000000,
                                                     location="London", hardware_id="hw-1")}
    consent.ccpa = {"data_sale_opt_out": mp.CCPAConsentState(consented=False, timestamp_unixtime_ms=1700000000000)}
    batch.consent_state = consent

    app_event = mp.AppEvent("Clicked Buy", "navigation", custom_attributes={"color": "red", "n": 2, "ok": True})
    app_event.timestamp_unixtime_ms = 1700000000123
    app_event.source_message_id = "m-1"
    app_event.session_id = 42
    screen = mp.ScreenViewEvent(screen_name="Home", custom_attributes={"from": "push"})
    product = mp.Product(id="sku-1", name="Lamp", brand="Acme", category="home", price=19.5, quantity=2.0,
                         custom_attributes={"size": "L"})
    action = mp.ProductAction("purchase", transaction_id="o-1", total_amount=39.0, tax_amount=3.0, products=[product])
    purchase = mp.CommerceEvent(action, currency_code="EUR", custom_attributes={"channel": "web"})
    promotion = mp.CommerceEvent(promotion_action=mp.PromotionAction(
        "click", promotions=[mp.Promotion(id="p-1", name="Summer", creative="banner", position="top")]))
    impressions = mp.CommerceEvent(product_impressions=[mp.ProductImpression("search results", [product])])
    start = mp.SessionStartEvent(session_id=42, timestamp_unixtime_ms=1700000000000)
    end = mp.SessionEndEvent(session_id=42, session_duration_ms=60000)
    opt_out = mp.OptOutEvent(is_opted_out=True)
    transitions = [
        mp.ApplicationStateTransitionEvent.create_install_event(),
        mp.ApplicationStateTransitionEvent.create_upgrade_event(),
        mp.ApplicationStateTransitionEvent.create_foreground_event(),
        mp.ApplicationStateTransitionEvent.create_background_event(),
    ]
    attribution = mp.AppEvent.create_attribution_event("publisher-1", "campaign-1")
    batch.events = [start, app_event, screen, purchase, promotion, impressions, opt_out, *transitions, attribution, end]
    return batch


def small_batch(mp: Any, user: str) -> Any:
    batch = mp.Batch(environment="production")
    batch.user_identities = mp.UserIdentities(customerid=user)
    batch.events = [mp.AppEvent("Signed Up", custom_attributes={"via": "email"})]
    return batch


def configure(mp: Any, sink: Sink, **extra: Any) -> Any:
    config = mp.Configuration()
    config.api_key = "key-1"
    config.api_secret = "secret-1"
    config.host = sink.url + "/v2"
    for name, value in extra.items():
        setattr(config, name, value)
    return mp.EventsApi(config)


def without_added_request_id(body: Any) -> Any:
    """Our upload adds source_request_id (dedup of resends); the reference does not."""
    batches = body if isinstance(body, list) else [body]
    for batch in batches:
        assert "-" in batch.pop("source_request_id")
    return body


@pytest.fixture(autouse=True)
def _reference_gate_off():
    # The reference's class-level 429 gate would leak between tests.
    reference.rest.RESTClientObject.latest_response = None
    yield
    reference.rest.RESTClientObject.latest_response = None


def test_upload_events_sends_what_the_reference_sends() -> None:
    with Sink(Settings(keys={"key-1": "secret-1"})) as sink:
        result_ref = configure(reference, sink).upload_events(full_batch(reference))
        result_ours = configure(ours, sink).upload_events(full_batch(ours))
    ref, mine = sink.requests
    assert (ref.path, mine.path) == ("/v2/events", "/v2/events")
    assert ref.headers["Authorization"] == mine.headers["Authorization"]
    assert mine.headers["Content-Type"] == "application/json"
    assert without_added_request_id(mine.json()) == ref.json()
    assert ref.json()["user_identities"]["customerid"] == "user-1"  # the reference's spelling, kept
    assert [a.status for a in sink.answers] == [202, 202] and not any(a.rejected for a in sink.answers)
    assert result_ref[0] is None and result_ours[0] is None
    assert result_ref[1] == result_ours[1] == 202


def test_bulk_upload_events_sends_what_the_reference_sends() -> None:
    with Sink() as sink:
        configure(reference, sink).bulk_upload_events([small_batch(reference, "u1"), full_batch(reference)])
        configure(ours, sink).bulk_upload_events([small_batch(ours, "u1"), full_batch(ours)])
    ref, mine = sink.requests
    assert ref.path == mine.path == "/v2/bulkevents"
    assert without_added_request_id(mine.json()) == ref.json()
    assert len(sink.batches()) == 4


def test_callback_gets_what_the_reference_gives() -> None:
    results: Dict[str, List[Any]] = {"ref": [], "ours": []}
    with Sink() as sink:
        for name, mp in (("ref", reference), ("ours", ours)):
            thread = configure(mp, sink).upload_events(small_batch(mp, "u2"), callback=results[name].append)
            assert isinstance(thread, threading.Thread)
            thread.join(10)
    (ref,), (mine,) = results["ref"], results["ours"]
    assert ref[0] is None and mine[0] is None and ref[1] == mine[1] == 202


@pytest.mark.parametrize("status", [400, 401])
def test_refusals_raise_api_exception_like_the_reference(status: int) -> None:
    caught = {}
    with Sink(script=[(status, {}), (status, {})]) as sink:
        for name, mp in (("ref", reference), ("ours", ours)):
            with pytest.raises(mp.rest.ApiException) as info:
                configure(mp, sink).upload_events(small_batch(mp, "u3"))
            caught[name] = info.value
    assert caught["ref"].status == caught["ours"].status == status
    assert "BAD_REQUEST" in caught["ours"].body and "BAD_REQUEST" in caught["ref"].body
    assert len(sink.requests) == 2  # never retried


def _attempt(build: Any) -> str:
    try:
        build()
    except ValueError as exc:
        return "ValueError:" + str(exc)
    return "ok"


INVALID = {
    "environment": lambda mp: setattr(mp.Batch(), "environment", "staging"),
    "nested custom attribute": lambda mp: mp.AppEvent("x", custom_attributes={"a": {"b": 1}}),
    "custom_event_type": lambda mp: setattr(mp.AppEvent("x"), "custom_event_type", "bogus"),
    "missing event name": lambda mp: mp.AppEvent(),
    "commerce without action": lambda mp: mp.CommerceEvent(),
    "product action": lambda mp: setattr(mp.ProductAction(), "action", "buy"),
    "promotion action": lambda mp: setattr(mp.PromotionAction(), "action", "hover"),
    "platform": lambda mp: setattr(mp.DeviceInformation(), "platform", "Windows"),
    "advertising id": lambda mp: mp.DeviceInformation(ios_advertising_id="not-a-uuid"),
    "transition type": lambda mp: setattr(mp.ApplicationStateTransitionEvent(), "application_transition_type", "x"),
    "event in batch": lambda mp: setattr(mp.Batch(), "events", [mp.Product()]),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_models_refuse_what_the_reference_refuses(case: str) -> None:
    assert _attempt(lambda: INVALID[case](reference)).startswith("ValueError")
    message = _attempt(lambda: INVALID[case](ours))
    assert message.startswith("ValueError")
    assert any(word in message for word in ("must", "required", "not an event")), message


def test_models_check_in_constructors_too() -> None:
    # The reference checks only in setters; a bad constructor argument fails here, not at mParticle.
    with pytest.raises(ValueError, match="environment"):
        ours.Batch(environment="staging")
    with pytest.raises(ValueError, match="custom_event_type"):
        ours.AppEvent("x", "bogus")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        ours.Product(colour="red")
    batch = ours.Batch(events=[ours.AppEvent("x")])  # wrapped (the reference sends it unwrapped)
    assert batch.events[0].event_type == "custom_event"
    assert ours.models.Batch(events=[ours.CrashReportEvent()]).events[0].event_type == "crash_report"


def test_to_dict_and_equality_like_the_reference() -> None:
    assert full_batch(ours).to_dict() == full_batch(reference).to_dict()
    assert small_batch(ours, "a") == small_batch(ours, "a") and small_batch(ours, "a") != small_batch(ours, "b")


def test_retries_5xx_then_returns_with_one_request_id() -> None:
    with Sink(script=[(503, {"Retry-After": "0"}), (500, {"Retry-After": "0"})]) as sink:
        result = configure(ours, sink).upload_events(small_batch(ours, "u4"))
    assert result[1] == 202
    bodies = {r.body for r in sink.requests}
    assert len(sink.requests) == 3 and len(bodies) == 1  # the same bytes, so the same source_request_id


def test_429_waits_for_retry_after_then_succeeds() -> None:
    with Sink(script=[(429, {"Retry-After": "0"})]) as sink:
        result = configure(ours, sink).upload_events(small_batch(ours, "u5"))
    assert result[1] == 202 and len(sink.requests) == 2


def test_429_blocks_only_the_call_that_got_it() -> None:
    # The reference would refuse every later call in the process for 30 s without sending.
    with Sink(script=[(429, {"Retry-After": "30"})]) as sink:
        with pytest.raises(ours.rest.ApiException) as info:
            configure(ours, sink, max_retries=0).upload_events(small_batch(ours, "u6"))
        assert info.value.status == 429 and info.value.headers["Retry-After"] == "30"
        result = configure(ours, sink).upload_events(small_batch(ours, "u7"))
    assert result[1] == 202 and len(sink.requests) == 2


def test_a_server_that_never_answers_times_out() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections into the backlog, never answers
    try:
        config = ours.Configuration()
        config.api_key, config.api_secret = "k", "s"
        config.host = f"http://127.0.0.1:{listener.getsockname()[1]}/v2"
        config.timeout, config.max_retries = 0.2, 1
        with pytest.raises(ours.rest.ApiException) as info:
            ours.EventsApi(config).upload_events(small_batch(ours, "u8"))
    finally:
        listener.close()
    assert info.value.status == 0 and "timeout" in info.value.reason.lower()


def test_background_mode_queues_and_calls_back() -> None:
    results: List[Any] = []
    outcomes: List[Any] = []
    with Sink() as sink:
        api = configure(ours, sink, background=True, callback=lambda e, code, msg: outcomes.append(code))
        assert api.upload_events(small_batch(ours, "u9"), callback=results.append) is None
        assert api.bulk_upload_events([small_batch(ours, "u10"), small_batch(ours, "u11")], callback=results.append) is None
        assert api.flush(10)
        api.shutdown(2)
    assert [r[1] for r in results] == [202, 202]
    assert outcomes == [202, 202, 202]
    assert all(r.path == "/v2/bulkevents" for r in sink.requests)
    users = sorted(b["user_identities"]["customerid"] for b in sink.batches())
    assert users == ["u10", "u11", "u9"]


def test_background_mode_reports_refusals() -> None:
    results: List[Any] = []
    errors: List[Any] = []
    with Sink(Settings(keys={"key-1": "other-secret"})) as sink:
        api = configure(ours, sink, background=True, on_error=lambda error, batches: errors.append((error, batches)))
        api.upload_events(small_batch(ours, "u12"), callback=results.append)
        assert api.flush(10)
        api.shutdown(2)
    (failure,) = results
    assert isinstance(failure, ours.rest.ApiException) and failure.status == 403
    (error, batches), = errors
    assert error.reason == "unauthorized" and batches[0]["user_identities"]["customerid"] == "u12"


def test_call_errors_are_clear() -> None:
    api = ours.EventsApi()
    with pytest.raises(ValueError, match="Missing the required parameter `body`"):
        api.upload_events(None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'timeout'"):
        api.upload_events(small_batch(ours, "x"), timeout=3)
    with pytest.raises(ValueError, match="at most 100"):
        api.bulk_upload_events([small_batch(ours, "x")] * 101)
