"""The mParticle destination end to end: Segment-style calls through a Client to a
loopback mParticle that checks every batch with the collector's mParticle format."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from analytics_sdk import Client, ValidationError
from analytics_sdk.wire import Action, MParticle, Segment
from analytics_sdk.wire.mparticle import MAX_BATCH_BYTES, MAX_REQUEST_BYTES
from analytics_sdk.devtools.api_rules.mparticle import Settings

from .mparticle_sink import Sink

DEVICE = "6a2f41a3-c54c-fce8-32d2-0324e1c32e22"
CONTEXT = {
    "ip": "203.0.113.9",
    "os": {"name": "iOS", "version": "17.2"},
    "device": {"model": "iPhone15,2", "manufacturer": "Apple", "advertisingId": DEVICE},
    "app": {"name": "shop", "version": "1.2.3", "build": "45", "namespace": "com.example.shop"},
    "locale": "en-GB",
    "userAgent": "shop/1.2.3",
    "location": {"latitude": 51.5, "longitude": -0.12},
    "campaign": {"source": "newsletter"},
}


def client(sink: Sink, errors: List[Any], **options: Any) -> Client:
    destination = options.pop("destination", None) or MParticle("key-1", "secret-1", "development", host=sink.url)
    options.setdefault("upload_interval", 0.05)
    return Client(destinations=[destination], on_error=lambda e, msgs: errors.append((e, msgs)), **options)


def by_type(sink: Sink) -> Dict[str, List[Dict[str, Any]]]:
    out: Dict[str, List[Dict[str, Any]]] = {}
    for event in sink.events():
        out.setdefault(event["event_type"], []).append(event["data"])
    return out


def test_every_call_type_maps_to_what_mparticle_takes() -> None:
    errors: List[Any] = []
    with Sink(Settings(keys={"key-1": "secret-1"}, strict_bulk=True)) as sink:
        c = client(sink, errors)
        c.identify("u1", {"email": "ada@example.com", "firstName": "Ada", "lastName": "L", "age": 36,
                          "address": {"city": "London", "postalCode": "N1", "country": "UK"}, "plan": "pro",
                          "company": {"name": "Acme"}})
        c.track("u1", "Clicked Buy", {"color": "red", "tags": ["a", "b"]}, context=CONTEXT,
                integrations={"mParticle": {"custom_event_type": "navigation"}}, message_id="m-track")
        c.page("u1", "Docs", "Intro", {"path": "/docs"})
        c.screen("u1", None, "Home", {"from": "push"})
        c.group("u1", "g1", {"name": "Acme", "employees": 20})
        c.track(None, "Browsed", anonymous_id=DEVICE)
        c.track("u1", "Session Started", {"session_id": 1700000000000})
        c.track("u1", "Application Installed", {"version": "1.2.3"})
        c.track("u1", "Session Ended", {"session_id": 1700000000000, "session_duration_ms": 60000})
        c.alias("anon-1", "u1")
        c.track(None, "Browsed", anonymous_id="not-a-uuid")
        assert c.flush(10)
        c.shutdown(2)
    assert not any(a.rejected for a in sink.answers) and {a.status for a in sink.answers} == {202}
    assert all(r.path == "/v2/bulkevents" for r in sink.requests)
    batches = sink.batches()
    identify = next(b for b in batches if b.get("user_attributes", {}).get("$firstname"))
    assert identify["user_identities"] == {"customer_id": "u1", "email": "ada@example.com"}
    assert identify["user_attributes"] == {"$firstname": "Ada", "$lastname": "L", "$age": 36, "$city": "London",
                                           "$zip": "N1", "$country": "UK", "plan": "pro",
                                           "company": '{"name":"Acme"}'}
    assert identify["events"] == [] and identify["environment"] == "development"
    group = next(b for b in batches if "group_id" in b.get("user_attributes", {}))
    assert group["user_attributes"] == {"group_id": "g1", "group_name": "Acme", "group_employees": 20}
    track = next(b for b in batches if b.get("ip"))
    assert track["device_info"] == {"platform": "iOS", "os_version": "17.2", "device_model": "iPhone15,2",
                                    "device_manufacturer": "Apple", "http_header_user_agent": "shop/1.2.3",
                                    "locale_language": "en", "locale_country": "GB", "ios_advertising_id": DEVICE}
    assert track["application_info"] == {"application_name": "shop", "application_version": "1.2.3",
                                         "application_build_number": "45", "package": "com.example.shop"}
    (custom,) = [e["data"] for e in track["events"]]
    assert custom["event_name"] == "Clicked Buy" and custom["custom_event_type"] == "navigation"
    assert custom["source_message_id"] == "m-track" and isinstance(custom["timestamp_unixtime_ms"], int)
    assert custom["custom_attributes"] == {"utm_source": "newsletter", "color": "red", "tags": '["a","b"]'}
    assert custom["location"] == {"latitude": 51.5, "longitude": -0.12}
    events = by_type(sink)
    assert [e["screen_name"] for e in events["screen_view"]] == ["Intro", "Home"]
    assert events["screen_view"][0]["custom_attributes"] == {"path": "/docs", "category": "Docs"}
    assert events["session_start"][0]["session_id"] == 1700000000000
    assert events["session_end"][0]["session_duration_ms"] == 60000
    assert events["application_state_transition"][0]["is_first_run"] is True
    anonymous = next(b for b in batches if b.get("mp_deviceid"))
    assert anonymous["mp_deviceid"] == DEVICE and "user_identities" not in anonymous
    reasons = sorted((e.reason, msgs[0]["type"]) for e, msgs in errors)
    assert reasons == [("unsendable", "alias"), ("unsendable", "track")]
    assert "IDSync" in str(errors[0][0]) or "IDSync" in str(errors[1][0])


def test_ecommerce_spec_events_become_commerce_events() -> None:
    errors: List[Any] = []
    products = [{"product_id": "p1", "sku": "S1", "name": "Lamp", "price": 19.5, "quantity": 2, "color": "red"},
                {"product_id": "p2", "name": "Bulb", "price": 3, "quantity": 1}]
    with Sink(Settings(strict_bulk=True)) as sink:
        c = client(sink, errors)
        c.track("u1", "Product Viewed", {"product_id": "p1", "name": "Lamp", "price": 19.5, "brand": "Acme"})
        c.track("u1", "Product Added", {"product_id": "p1", "name": "Lamp", "price": 19.5, "quantity": 2})
        c.track("u1", "Checkout Step Completed", {"checkout_id": "c1", "step": 2, "shipping_method": "DHL"})
        c.track("u1", "Order Completed", {"order_id": "o1", "total": 45.0, "revenue": 42.0, "tax": 3.0,
                                          "shipping": 0, "coupon": "SUMMER", "currency": "EUR",
                                          "products": products, "note": "gift"})
        c.track("u1", "Order Refunded", {"order_id": "o1"})
        c.track("u1", "Product List Viewed", {"list_id": "search", "products": products})
        c.track("u1", "Promotion Clicked", {"promotion_id": "pr1", "name": "Summer", "creative": "banner"})
        assert c.flush(10)
        c.shutdown(2)
    assert not errors and not any(a.rejected for a in sink.answers)
    commerce = by_type(sink)["commerce_event"]
    actions = [e.get("product_action", {}).get("action") for e in commerce]
    assert actions == ["view_detail", "add_to_cart", "checkout_option", "purchase", "refund", None, None]
    assert commerce[0]["product_action"]["products"] == [{"id": "p1", "name": "Lamp", "brand": "Acme", "price": 19.5}]
    assert commerce[2]["product_action"] == {"action": "checkout_option", "transaction_id": "c1",
                                             "checkout_step": 2, "checkout_options": "DHL"}
    order = commerce[3]
    assert order["currency_code"] == "EUR" and order["custom_attributes"] == {"note": "gift"}
    action = order["product_action"]
    assert (action["transaction_id"], action["total_amount"], action["tax_amount"], action["shipping_amount"],
            action["coupon_code"]) == ("o1", 45.0, 3.0, 0, "SUMMER")
    assert action["products"][0] == {"id": "p1", "name": "Lamp", "price": 19.5, "quantity": 2,
                                     "custom_attributes": {"sku": "S1", "color": "red"}}
    assert commerce[5]["product_impressions"][0]["product_impression_list"] == "search"
    assert commerce[6]["promotion_action"] == {"action": "click", "promotions": [
        {"id": "pr1", "name": "Summer", "creative": "banner"}]}


def test_consent_in_context_becomes_consent_state() -> None:
    errors: List[Any] = []
    consent = {"categoryPreferences": {"Marketing": True, "Analytics": False},
               "gdpr": {"location_collection": {"consented": True, "document": "v3", "hardwareId": "hw",
                                                "timestamp": "2024-01-02T03:04:05+00:00"}},
               "ccpa": {"dataSaleOptOut": True}}
    with Sink(Settings(strict_bulk=True)) as sink:
        c = client(sink, errors)
        c.track("u1", "Consented", context={"consent": consent}, timestamp="2024-05-01T00:00:00+00:00")
        with pytest.raises(ValidationError, match="context.consent.gdpr.x"):
            c.track("u1", "Bad", context={"consent": {"gdpr": {"x": "yes"}}})
        with pytest.raises(ValidationError, match="CCPA has only dataSaleOptOut"):
            c.track("u1", "Bad", context={"consent": {"ccpa": {"sale": True}}})
        assert c.flush(10)
        c.shutdown(2)
    (batch,) = sink.batches()
    at = 1714521600000
    assert batch["consent_state"] == {
        "ccpa": {"data_sale_opt_out": {"consented": True, "timestamp_unixtime_ms": at}},
        "gdpr": {"marketing": {"consented": True, "timestamp_unixtime_ms": at},
                 "analytics": {"consented": False, "timestamp_unixtime_ms": at},
                 "location_collection": {"consented": True, "document": "v3", "hardware_id": "hw",
                                         "timestamp_unixtime_ms": 1704164645000}},
    }


def test_events_are_grouped_per_user_in_one_bulk_request() -> None:
    errors: List[Any] = []
    with Sink(Settings(strict_bulk=True)) as sink:
        c = client(sink, errors, upload_interval=5)
        for i in range(6):
            c.track(f"u{i % 3}", "Step", {"i": i})
        assert c.flush(10)
        c.shutdown(2)
    (request,) = sink.requests
    batches = request.json()
    assert [b["user_identities"]["customer_id"] for b in batches] == ["u0", "u1", "u2"]
    assert [[e["data"]["custom_attributes"]["i"] for e in b["events"]] for b in batches] == [[0, 3], [1, 4], [2, 5]]


def test_request_and_batch_limits_hold() -> None:
    errors: List[Any] = []
    blob = "x" * 30_000
    with Sink(Settings(strict_bulk=True)) as sink:
        c = client(sink, errors, upload_interval=5)
        for i in range(24):
            c.track("u1" if i % 2 else "u2", "Big", {"blob": blob[:4000], "a": blob[:4000], "b": blob[:4000],
                                                     "c": blob[:4000], "d": blob[:4000], "i": i})
        for i in range(130):
            c.track("u3", "Small", {"i": i})
        ok, _ = c.track("u1", "Huge", {f"k{i}": blob[:4000] for i in range(40)})
        many, _ = c.track("u1", "Wide", {f"k{i}": i for i in range(101)})
        assert c.flush(10)
        c.shutdown(2)
    assert not ok and not many
    assert sorted(e.reason for e, _ in errors) == ["invalid", "too_large"]
    assert all(len(r.body) <= MAX_REQUEST_BYTES for r in sink.requests)
    assert all(len(r.json()) <= 100 for r in sink.requests)
    for batch in sink.batches():
        assert len(__import__("json").dumps(batch, separators=(",", ":"))) <= MAX_BATCH_BYTES
    assert len(sink.events()) == 24 + 130 and len(sink.requests) >= 3


class Poisoning(MParticle):
    """Makes the event named "Poison" one mParticle refuses."""

    def encode(self, message: Any) -> bytes:
        data = super().encode(message)
        return data.replace(b'"custom_event_type":"other"', b'"custom_event_type":"bogus"') if message.get(
            "event") == "Poison" else data


def test_a_400_is_split_to_drop_only_the_bad_batch() -> None:
    errors: List[Any] = []
    with Sink(Settings(strict_bulk=True)) as sink:
        c = client(sink, errors, upload_interval=5,
                   destination=Poisoning("key-1", "secret-1", "development", host=sink.url))
        for name in ("A", "B", "Poison", "C"):
            c.track("u1", name, integrations={"mParticle": {}})
        assert c.flush(10)
        c.shutdown(2)
    (error, messages), = errors
    assert error.reason == "invalid" and error.status == 400 and "custom_event_type" in error.detail
    assert messages[0]["events"][0]["data"]["event_name"] == "Poison"
    assert sorted(e["data"]["event_name"] for e in sink.events()) == ["A", "B", "C"]


def test_401_and_403_are_dropped_and_reported_once_per_request() -> None:
    errors: List[Any] = []
    with Sink(Settings(keys={"key-1": "right"})) as sink:
        c = client(sink, errors, upload_interval=5)
        for i in range(3):
            c.track("u1", "E", {"i": i})
        assert c.flush(10)
        c.shutdown(2)
    (error, messages), = errors
    assert error.reason == "unauthorized" and error.status == 403 and len(messages) == 3
    assert len(sink.requests) == 1


def test_5xx_is_retried_with_the_same_bytes() -> None:
    errors: List[Any] = []
    with Sink(script=[(503, {"Retry-After": "0"})]) as sink:
        c = client(sink, errors)
        c.track("u1", "E")
        assert c.flush(10)
        c.shutdown(2)
    assert not errors and len(sink.requests) == 2 and sink.requests[0].body == sink.requests[1].body


def test_429_holds_back_this_destination_only(collector: Any) -> None:
    errors: List[Any] = []
    with Sink(script=[(429, {"Retry-After": "30"})]) as sink:
        c = Client(destinations=[MParticle("k", "s", "production", host=sink.url),
                                 Segment("wk", host=collector.url)],
                   on_error=lambda e, msgs: errors.append(e), upload_interval=0.05)
        c.track("u1", "E")
        segment_route = c._routes[1]
        assert segment_route.consumer.flush(10)  # Segment delivered while mParticle waits out its Retry-After
        assert collector.wait_for(1)
        assert sink.wait_for_requests(1)
        assert c.stats()["destinations"]["mParticle"]["delivered"] == 0 and len(sink.requests) == 1
        c.shutdown(0.3)
    assert [e.reason for e in errors] == ["shutdown_timeout"]


def test_read_maps_statuses() -> None:
    d = MParticle("k", "s", "production")
    assert d.read(202, b"", None, 3).action is Action.DELIVERED
    reply = d.read(400, b'{"errors":[{"code":"BAD_REQUEST","message":"bad batch"}]}', None, 3)
    assert reply.action is Action.SPLIT and reply.detail == "BAD_REQUEST: bad batch"
    assert d.read(429, b"", 12.0, 3).retry_after == 12.0 and d.read(429, b"", 12.0, 3).action is Action.RETRY
    assert d.read(None, b"", None, 3).action is Action.RETRY and d.read(502, b"", None, 3).action is Action.RETRY
    assert d.read(401, b"", None, 3).reason == "unauthorized"


def test_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="environment"):
        MParticle("k", "s", "staging")
    with pytest.raises(ValidationError, match="pod"):
        MParticle("k", "s", "production", pod="XX1")
    with pytest.raises(ValidationError, match="api_secret"):
        MParticle("k", "", "production")
    with pytest.raises(ValidationError, match="anonymous_id"):
        MParticle("k", "s", "production", anonymous_id="device")
    assert MParticle("k", "s", "production", pod="eu1").url == "https://s2s.eu1.mparticle.com/v2/bulkevents"
    assert MParticle("k", "s", "production", host="http://h/v2", bulk=False).url == "http://h/v2/events"


def test_options_mistakes_raise_at_the_call_site() -> None:
    c = Client(destinations=[MParticle("k", "s", "production", host="http://127.0.0.1:9")], send=False)
    with pytest.raises(ValidationError, match="custom_event_type"):
        c.track("u1", "E", integrations={"mParticle": {"custom_event_type": "fun"}})
    with pytest.raises(ValidationError, match="unknown identity 'skype'"):
        c.track("u1", "E", integrations={"mParticle": {"user_identities": {"skype": "x"}}})


def test_events_endpoint_and_anonymous_id_as_identity() -> None:
    errors: List[Any] = []
    with Sink(Settings(keys={"key-1": "secret-1"})) as sink:
        destination = MParticle("key-1", "secret-1", "production", host=sink.url, bulk=False, anonymous_id="other")
        c = client(sink, errors, destination=destination)
        c.track(None, "A", anonymous_id="anon-1")
        c.track("u1", "B", integrations={"mParticle": {"user_identities": {"other_id_2": "crm-7"}}})
        assert c.flush(10)
        c.shutdown(2)
    assert not errors and [r.path for r in sink.requests] == ["/v2/events", "/v2/events"]
    assert [r.json()["user_identities"] for r in sink.requests] == [{"other": "anon-1"},
                                                                  {"customer_id": "u1", "other_id_2": "crm-7"}]
