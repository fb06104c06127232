"""Pure: the Segment -> Amplitude mapping table, the builders, the reply reading, the collector format."""

from __future__ import annotations

import json

import pytest

from analytics_sdk import Identify, Revenue, ValidationError, messages
from analytics_sdk.payload_builders import lift
from analytics_sdk.wire import Action, Amplitude, Unsendable
from analytics_sdk.wire.amplitude import LIBRARY
from analytics_sdk.wire.amplitude_replies import read_reply
from analytics_sdk.devtools.api_rules import amplitude as fmt

TS = "2024-05-01T12:00:00.250000+00:00"
MS = 1714564800250


def wire(message):
    return json.loads(Amplitude("key-1").encode(message))


def test_track_maps_ids_time_insert_id_library_and_revenue():
    msg = messages.build_track(
        "user-1", "Order Completed",
        {"revenue": 42, "price": 21, "quantity": 2, "productId": "sku", "revenueType": "purchase", "currency": "EUR",
         "gone": None},
        anonymous_id="anon-1", timestamp=TS, message_id="mid-1",
    )
    assert wire(msg) == {
        "user_id": "user-1", "device_id": "anon-1", "event_type": "Order Completed",
        "event_properties": {"revenue": 42, "price": 21, "quantity": 2, "productId": "sku",
                             "revenueType": "purchase", "currency": "EUR"},
        "revenue": 42.0, "price": 21.0, "quantity": 2, "productId": "sku", "revenueType": "purchase",
        "currency": "EUR", "time": MS, "insert_id": "mid-1", "library": LIBRARY,
    }


def test_identify_group_page_screen_table():
    identify = wire(messages.build_identify("user-1", {"plan": "pro"}, timestamp=TS))
    assert identify["event_type"] == "$identify" and identify["user_properties"] == {"$set": {"plan": "pro"}}
    group = wire(messages.build_group("user-1", "acme", {"tier": "gold"}, integrations={"Amplitude": {"group_type": "org"}}))
    assert group["event_type"] == "$groupidentify"
    assert group["groups"] == {"org": "acme"} and group["group_properties"] == {"$set": {"tier": "gold"}}
    assert group["user_properties"] == {"$set": {"org": "acme"}}
    bare = wire(messages.build_group("user-1", "acme"))
    assert bare["event_type"] == "$identify" and bare["groups"] == {"[Segment] Group": "acme"}
    assert wire(messages.build_page("user-1", "Docs", "Intro"))["event_type"] == "Viewed Docs Intro Page"
    assert wire(messages.build_page("user-1"))["event_type"] == "Loaded a Page"
    screen = wire(messages.build_screen("user-1", None, "Home", {"x": 1}))
    assert screen["event_type"] == "Viewed Home Screen" and screen["event_properties"] == {"x": 1, "name": "Home"}


def test_context_fields_and_integrations_overlay():
    context = {
        "ip": "1.2.3.4", "os": {"name": "iOS", "version": "17"},
        "device": {"model": "iPhone15", "manufacturer": "Apple", "type": "ios", "advertisingId": "ad-1"},
        "location": {"country": "FR", "city": "Paris", "latitude": 48.8, "longitude": 2},
        "locale": "fr-FR", "app": {"version": "1.2", "build": 7}, "network": {"carrier": "Orange"},
        "userAgent": "UA",
    }
    event = wire(messages.build_track("user-1", "E", context=context,
                                      integrations={"Amplitude": {"session_id": 123, "device_id": "dev-9", "insert_id": "no"}}))
    expected = {"ip": "1.2.3.4", "os_name": "iOS", "os_version": "17", "device_model": "iPhone15",
                "device_manufacturer": "Apple", "platform": "ios", "idfa": "ad-1", "country": "FR", "city": "Paris",
                "location_lat": 48.8, "location_lng": 2.0, "language": "fr-FR", "app_version": "1.2",
                "version_name": "7", "carrier": "Orange", "user_agent": "UA", "session_id": 123, "device_id": "dev-9"}
    assert {k: event[k] for k in expected} == expected
    assert event["insert_id"] != "no"  # insert_id is the messageId, never overridden


def test_alias_and_idless_events_are_refused_with_a_reason():
    with pytest.raises(Unsendable) as alias:
        Amplitude("k").encode(messages.build_alias("old", "new"))
    assert alias.value.reason == "unsendable" and "alias" in alias.value.detail
    with pytest.raises(Unsendable) as no_id:
        Amplitude("k").encode({"type": "track", "event": "E", "messageId": "m", "integrations": {}})
    assert no_id.value.reason == "invalid"


def test_long_strings_are_cut_to_1024_characters():
    event = wire(messages.build_track("user-1", "E", {"long": "x" * 5000, "short": "y"}))
    assert len(event["event_properties"]["long"]) == 1024 and event["event_properties"]["short"] == "y"


def test_request_body_and_limits_per_api():
    v2 = Amplitude("key-1", min_id_length=3)
    body = json.loads(v2.body([b'{"a":1}', b'{"b":2}']))
    assert body == {"api_key": "key-1", "events": [{"a": 1}, {"b": 2}], "options": {"min_id_length": 3}}
    assert v2.url == "https://api2.amplitude.com/2/httpapi" and v2.max_events_per_request == 1999
    batch = Amplitude("k", server_zone="EU", use_batch=True)
    assert batch.url == "https://api.eu.amplitude.com/batch" and batch.max_request_bytes == 20_000_000
    with pytest.raises(ValidationError, match="server_zone"):
        Amplitude("k", server_zone="APAC")
    assert "key-1" not in repr(v2)


def test_identify_builder_operations_and_one_operation_per_key():
    ops = Identify().set("plan", "pro").set_once("first", 1).add("logins", 1).append("a", 1).prepend("b", 2)
    ops.pre_insert("c", 3).post_insert("d", 4).remove("e", 5).unset("old")
    assert ops.user_properties == {
        "$set": {"plan": "pro"}, "$setOnce": {"first": 1}, "$add": {"logins": 1}, "$append": {"a": 1},
        "$prepend": {"b": 2}, "$preInsert": {"c": 3}, "$postInsert": {"d": 4}, "$remove": {"e": 5},
        "$unset": {"old": "-"},
    }
    with pytest.raises(ValidationError, match="'plan' already has an operation"):
        ops.add("plan", 1)
    with pytest.raises(ValidationError, match="must be a number"):
        Identify().add("n", "1")
    cleared = Identify().set("x", 1).clear_all()
    assert cleared.user_properties == {"$clearAll": "-"}
    with pytest.raises(ValidationError, match="clear_all"):
        cleared.set("y", 2)


def test_builders_lift_to_segment_traits_and_amplitude_operations():
    traits, integrations = lift("identify", Identify().set("plan", "pro").add("n", 1), {"Other": True})
    assert traits == {"plan": "pro"}
    assert integrations == {"Other": True, "Amplitude": {"user_properties": {"$set": {"plan": "pro"}, "$add": {"n": 1}}}}
    props, _ = lift("track", Revenue(9.99, quantity=2, product_id="sku", properties={"coupon": "c"}), None)
    assert props == {"coupon": "c", "price": 9.99, "quantity": 2, "productId": "sku"}
    with pytest.raises(ValidationError, match="positive integer quantity"):
        lift("track", Revenue(1.0, quantity=0), None)
    with pytest.raises(ValidationError, match="cannot be a Revenue"):
        lift("identify", Revenue(1.0), None)


# -- reply reading (pure) -------------------------------------------------------------------


def reply(status, body, count=4, items=None, interval=30.0):
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    events = items or [{"user_id": f"user-{i}"} for i in range(count)]
    return read_reply(status, raw, None, count, lambda i: events[i], interval)


def test_body_code_wins_and_200_without_code_is_delivered():
    assert reply(500, {"code": 200}).action is Action.DELIVERED
    assert reply(200, b"").action is Action.DELIVERED
    assert reply(200, b"not json").action is Action.DELIVERED
    assert reply(200, {"code": 503}).action is Action.RETRY
    assert reply(None, b"").action is Action.RETRY


def test_400_index_lists_drop_only_the_named_events_and_resend_the_rest_now():
    got = reply(400, {"code": 400, "error": "Invalid field values on some events",
                      "events_with_invalid_fields": {"time": [1]}, "events_with_missing_fields": {"event_type": [3]},
                      "events_with_invalid_id_lengths": {"user_id": [1, 9]}, "silenced_events": [2]})
    assert got.action is Action.RETRY and got.retry_after == 0.0
    assert set(got.drops) == {1, 2, 3} and got.drops[1][0] == "invalid" and "time (invalid)" in got.drops[1][1]
    assert got.drops[2][0] == "rejected"


def test_bad_key_missing_field_unindexed_400_and_413():
    assert reply(400, {"code": 400, "error": "Invalid API key: abc"}).reason == "unauthorized"
    assert reply(403, {"code": 403, "error": "Forbidden"}).action is Action.DROP
    missing = reply(400, {"code": 400, "error": "Request missing required field", "missing_field": "events"})
    assert missing.action is Action.DROP and "events" in missing.detail
    assert reply(400, {"code": 400, "error": "Invalid event JSON"}).action is Action.SPLIT
    assert reply(413, {"code": 413, "error": "Payload too large"}).action is Action.SPLIT
    assert reply(404, b"").reason == "rejected"


def test_429_holds_throttled_drops_daily_quota_and_resends_the_rest():
    got = reply(429, {"code": 429, "throttled_users": {"user-1": 40, "user-2": 40}, "throttled_events": [1, 2],
                      "exceeded_daily_quota_users": {"user-2": 500000}}, interval=7.0)
    assert got.holds == {1: 7.0} and got.drops == {2: ("quota_exceeded", got.drops[2][1])}
    assert got.action is Action.RETRY and got.retry_after == 0.0
    assert reply(429, {"code": 429}).action is Action.RETRY and not reply(429, {"code": 429}).holds


# -- collector format (pure) ----------------------------------------------------------------


def request(*events, **top):
    return json.dumps({"api_key": "k", "events": list(events), **top}).encode()


def test_format_200_body_and_400_index_lists():
    ok = fmt.answer("/2/httpapi", request({"event_type": "E", "user_id": "user-1", "time": 1}), now_ms=5)
    assert ok.status == 200 and ok.body["events_ingested"] == 1 and ok.body["server_upload_time"] == 5
    assert ok.body["code"] == 200 and ok.body["payload_size_bytes"] > 0 and len(ok.events) == 1
    bad = fmt.answer("/2/httpapi", request(
        {"event_type": "E", "user_id": "user-1"}, {"user_id": "user-2"}, {"event_type": "E", "device_id": "dev", "time": "x"},
        {"event_type": "E", "user_id": "null"}, {"event_type": "E", "user_id": "u", "price": "1"},
    ))
    assert bad.status == 400 and not bad.events
    assert bad.body["events_with_missing_fields"] == {"event_type": [1]}
    assert bad.body["events_with_invalid_fields"] == {"time": [2], "user_id": [3], "price": [4]}
    assert bad.body["events_with_invalid_id_lengths"] == {"device_id": [2], "user_id": [4]}
    short_ok = fmt.answer("/2/httpapi", request({"event_type": "E", "user_id": "u", "time": 1}, options={"min_id_length": 1}))
    assert short_ok.status == 200


def test_format_request_level_errors_413_and_429():
    assert fmt.answer("/2/httpapi", b"{").body == {"code": 400, "error": "Invalid JSON request body"}
    assert fmt.answer("/2/httpapi", b'{"events": []}').body["missing_field"] == "api_key"
    assert fmt.answer("/2/httpapi", request()).body["missing_field"] == "events"
    assert fmt.answer("/2/httpapi", request({"event_type": "E", "user_id": "user-1"}), api_keys={"other"}).body[
        "error"].startswith("Invalid API key")
    many = request(*[{"event_type": "E", "user_id": "user-1"}] * 2000)
    assert fmt.answer("/2/httpapi", many).status == 413 and fmt.answer("/batch", many).status == 200
    assert fmt.answer("/2/httpapi", b" " * 1_000_001).body == {"code": 413, "error": "Payload too large"}
    throttled = fmt.answer("/2/httpapi", request({"event_type": "E", "user_id": "hot-user"}, {"event_type": "E", "user_id": "cold-user"},
                                                 {"event_type": "E", "device_id": "spent-device"}),
                           throttle=fmt.Throttle(users=frozenset({"hot-user"}), daily_devices=frozenset({"spent-device"})))
    assert throttled.status == 429 and throttled.body["throttled_events"] == [0, 2] and not throttled.events
    assert "hot-user" in throttled.body["throttled_users"]
    assert list(throttled.body["exceeded_daily_quota_devices"]) == ["spent-device"]
