"""The local collector speaks Amplitude and mParticle: the SDK's own destinations and
drop-in modules, end to end against a real ``Collector`` on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from typing import Any, Dict, List

import pytest

import analytics_sdk.amplitude as amplitude
import analytics_sdk.mparticle as mparticle
from analytics_sdk import Client
from analytics_sdk.wire import Amplitude, MParticle
from analytics_sdk.devtools.collector import Collector, Faults

API_KEY = "amp-key-1"


def post(url: str, body: Any, headers: Dict[str, str] = {}) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_amplitude_destination_every_call_stored_as_amplitude_and_a_bad_event_dropped_alone() -> None:
    errors: List[Any] = []
    with Collector(write_key=API_KEY) as collector:
        c = Client(destinations=[Amplitude(API_KEY, server_url=collector.url + "/2/httpapi")],
                   on_error=lambda e, msgs: errors.append((e, msgs)), upload_interval=5)
        c.track("user-0001", "Song Played", {"title": "x"}, message_id="m-track")
        c.identify("user-0001", {"plan": "pro"}, message_id="m-identify")
        c.group("user-0001", "org-0001", {"name": "Acme"}, message_id="m-group")
        c.page("user-0001", "Docs", "Intro", message_id="m-page")
        c.track("ab", "Too Short An Id", message_id="m-bad")  # Amplitude: user_id under 5 characters
        assert c.flush(10)
        c.shutdown(2)
        events = collector.events(format="amplitude")
        statuses = [r.status for r in collector.requests]
        rejections = collector.rejections(format="amplitude")
    # All or nothing: the first request was a 400 naming index 4, stored nothing; the resend of the rest is a 200.
    assert statuses == [400, 200]
    assert [r["reason"] for r in rejections] == ["id too short: user_id"]
    received = [e["_received"] for e in events]
    assert len(events) == 4 and {r["format"] for r in received} == {"amplitude"}
    assert sorted(r["key"] for r in received) == ["m-group", "m-identify", "m-page", "m-track"]  # insert_id
    assert sorted(r["type"] for r in received) == ["group", "identify", "track", "track"]
    assert {r["user_id"] for r in received} == {"user-0001"}
    assert sorted(r["what"] for r in received if r["type"] == "track") == ["Song Played", "Viewed Docs Intro Page"]
    assert all(r["library"].startswith("analytics") for r in received), received
    (error, messages), = errors
    assert error.status == 400 and len(messages) == 1


def test_amplitude_wire_answers_and_throttle_fault() -> None:
    with Collector(faults=Faults(throttled_ids=("user-hot",))) as collector:
        url = collector.url + "/2/httpapi"
        ok = {"api_key": API_KEY, "events": [{"event_type": "A", "user_id": "user-0001", "insert_id": "i-1"}]}
        status, body, _ = post(url, ok)
        assert status == 200 and body["code"] == 200 and body["events_ingested"] == 1
        assert set(body) == {"code", "events_ingested", "payload_size_bytes", "server_upload_time"}
        bad = {"api_key": API_KEY, "events": [{"event_type": "B", "user_id": "user-0002"}, {"user_id": "user-0003"}]}
        status, body, _ = post(url, bad)
        assert status == 400 and body["events_with_missing_fields"] == {"event_type": [1]}
        status, body, _ = post(collector.url + "/batch", {"events": []})
        assert status == 400 and body["missing_field"] == "api_key"
        hot = {"api_key": API_KEY, "events": [{"event_type": "C", "user_id": "user-hot"}]}
        status, body, _ = post(url, hot)
        assert status == 429 and body["throttled_users"] == {"user-hot": 31} and body["throttled_events"] == [0]
        assert [e["_received"]["what"] for e in collector.events()] == ["A"]  # nothing of the 400s or the 429 stored


def test_amplitude_dropin_against_the_collector() -> None:
    seen: List[Any] = []
    with Collector() as collector:
        client = amplitude.Amplitude(API_KEY, amplitude.Config(server_url=collector.url + "/batch", use_batch=True,
                                                                callback=lambda e, code, msg: seen.append(code)))
        client.track(amplitude.BaseEvent("Song Played", user_id="user-0001", event_properties={"n": 1}))
        client.identify(amplitude.Identify().set("plan", "pro"), amplitude.EventOptions(user_id="user-0001"))
        client.flush()
        client.shutdown()
        events = collector.events(format="amplitude")
    assert sorted(e["_received"]["type"] for e in events) == ["identify", "track"]
    assert seen == [200, 200]


def batch(user: str, name: str = "Signed Up") -> Any:
    b = mparticle.Batch(environment="development")
    b.user_identities = mparticle.UserIdentities(customerid=user)
    b.user_attributes = {"plan": "pro"}
    b.events = [mparticle.AppEvent(name, "navigation", custom_attributes={"via": "email"})]
    return b


def test_mparticle_destination_bulk_stored_per_event_and_bad_credentials_reported() -> None:
    errors: List[Any] = []
    with Collector(write_key="mp-key", write_secret="mp-secret") as collector:
        good = Client(destinations=[MParticle("mp-key", "mp-secret", "development", host=collector.url)],
                      on_error=lambda e, msgs: errors.append(e), upload_interval=5)
        good.track("user-1", "Clicked Buy", {"color": "red"}, message_id="m-1")
        good.screen("user-1", None, "Home", message_id="m-2")
        good.identify("user-2", {"email": "ada@example.com"}, message_id="m-3")
        assert good.flush(10)
        good.shutdown(2)
        assert not errors
        events = collector.events(format="mparticle")
        assert [r.status for r in collector.requests] == [202]
        by_type = {e["_received"]["type"]: e for e in events}
        assert sorted(by_type) == ["custom_event", "identify", "screen_view"]
        track = by_type["custom_event"]
        summary = track["_received"]
        assert (summary["user_id"], summary["what"], summary["key"]) == ("user-1", "Clicked Buy", "m-1")
        assert track["user_identities"] == {"customer_id": "user-1"}  # batch fields beside the event
        assert track["event"]["data"]["custom_attributes"] == {"color": "red"}
        assert by_type["identify"]["_received"]["key"] == "m-3"  # an event-less batch: its source_request_id
        assert by_type["identify"]["user_identities"] == {"customer_id": "user-2", "email": "ada@example.com"}

        bad = Client(destinations=[MParticle("mp-key", "wrong", "development", host=collector.url)],
                     on_error=lambda e, msgs: errors.append(e), upload_interval=5)
        bad.track("user-1", "Never Stored")
        assert bad.flush(10)
        bad.shutdown(2)
        assert [(e.reason, e.status) for e in errors] == [("unauthorized", 403)]
        assert len(collector.events(format="mparticle")) == 3


def test_mparticle_wire_answers() -> None:
    with Collector(faults=Faults(throttle_rate=0.0)) as collector:
        auth = {"Authorization": "Basic " + __import__("base64").b64encode(b"k:s").decode()}
        status, body, _ = post(collector.url + "/v2/events", {"environment": "development", "mpid": 7, "events": []})
        assert status == 401 and body["errors"][0]["code"] == "UNAUTHORIZED"
        bad = {"environment": "staging", "user_identities": {"customer_id": "u"}}
        good = {"environment": "production", "user_identities": {"customer_id": "u"},
                "events": [{"event_type": "screen_view", "data": {"screen_name": "Home", "source_message_id": "s-1"}}]}
        status, body, _ = post(collector.url + "/v2/events", bad, auth)
        assert status == 400 and "environment" in body["errors"][0]["message"]
        status, _, _ = post(collector.url + "/v2/bulkevents", [bad, good], auth)
        assert status == 202  # the good batch kept, the bad one rejected
        assert [e["_received"]["key"] for e in collector.events(format="mparticle")] == ["s-1"]
        assert len(collector.rejections(format="mparticle")) == 2
    with Collector(faults=Faults(throttle_rate=1.0, retry_after="7")) as collector:
        status, body, headers = post(collector.url + "/v2/bulkevents", [good], auth)
        assert status == 429 and headers["Retry-After"] == "7" and body["errors"][0]["message"] == "injected throttle"


def test_mparticle_dropin_upload_events_and_the_format_filter() -> None:
    with Collector() as collector:
        config = mparticle.Configuration()
        config.api_key, config.api_secret, config.host = "k", "s", collector.url + "/v2"
        api = mparticle.EventsApi(config)
        api.upload_events(batch("user-1"))
        api.bulk_upload_events([batch("user-2", "A"), batch("user-3", "B")])
        config.api_secret = ""
        with pytest.raises(mparticle.rest.ApiException) as info:
            mparticle.EventsApi(config).upload_events(batch("user-4"))
        assert info.value.status == 401
        status, _, _ = post(collector.url + "/2/httpapi",
                            {"api_key": "a", "events": [{"event_type": "Amp", "device_id": "device-1"}]})
        assert status == 200
        listed = get(collector.url + "/v1/events?format=mparticle")["events"]
        assert sorted(e["_received"]["user_id"] for e in listed) == ["user-1", "user-2", "user-3"]
        assert {e["_received"]["format"] for e in listed} == {"mparticle"}
        amplitude_only = get(collector.url + "/v1/events?format=amplitude")["events"]
        assert [(e["_received"]["what"], e["_received"]["anonymous_id"]) for e in amplitude_only] == [("Amp", "device-1")]
        assert sorted(get(collector.url + "/stats")["formats"]) == ["amplitude", "mparticle", "segment"]


def test_one_message_to_three_formats_is_three_stored_events_not_duplicates():
    from analytics_sdk import Amplitude, Client, MParticle, Segment
    from analytics_sdk.devserver import Collector

    with Collector() as collector:
        client = Client(destinations=[
            Segment("k", host=collector.url),
            Amplitude("amp-key", server_url=collector.url + "/2/httpapi"),
            MParticle("mp-key", "mp-secret", environment="development", host=collector.url),
        ])
        message_id = client.track("user-12345", "Order Completed", {"revenue": 1.5})[1]["messageId"]
        assert client.flush(timeout=10)
        client.shutdown(timeout=2)
        assert collector.summary()["duplicates"] == 0
        by_format = {fmt: collector.events(format=fmt) for fmt in ("segment", "amplitude", "mparticle")}
        assert {fmt: len(events) for fmt, events in by_format.items()} == {"segment": 1, "amplitude": 1, "mparticle": 1}
        assert by_format["amplitude"][0]["_received"]["key"] == message_id  # shown as sent (insert_id)


def test_the_first_requests_arriving_together_all_find_their_format():
    # A fresh interpreter, registration slowed down: request threads that call
    # format_for() while the built-in formats are still registering must wait for
    # them, not answer 404 (seen with two Pool workers posting at once).
    code = textwrap.dedent(
        """
        import threading, time
        from analytics_sdk.devtools.collector import formats
        register = formats.register
        formats.register = lambda fmt: (time.sleep(0.05), register(fmt))[1]
        found = []
        threads = [threading.Thread(target=lambda: found.append(formats.format_for("/v1/batch"))) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(sorted(getattr(fmt, "name", None) or "none" for fmt in found))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(["segment"] * 8)
