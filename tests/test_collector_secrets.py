"""The collector's read API never gives a credential back: a write key, an Amplitude API key or an
mParticle secret shows as sent, with at most its last four characters. Also what each format's
rows say (mParticle's identify and library) and the zone-less timestamp warning, through the API."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any, Dict, List

import pytest

from analytics_sdk import Client
from analytics_sdk.wire import Amplitude, MParticle, Segment
from analytics_sdk.devtools.collector import Collector

SEGMENT_KEY = "segment-write-key-A1b2"
AMPLITUDE_KEY = "amplitude-api-key-C3d4"
MP_KEY = "mparticle-key-E5f6"
MP_SECRET = "mparticle-secret-G7h8"
SECRETS = (SEGMENT_KEY, AMPLITUDE_KEY, MP_KEY, MP_SECRET)


def get_text(url: str, auth: str = "") -> str:
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
        return response.read().decode()


def post(url: str, body: Any, auth: str = "") -> int:
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    request = urllib.request.Request(url, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def every_read(url: str, auth: str = "") -> Dict[str, str]:
    """Every read endpoint's answer, for every format, and every recorded request."""
    pages = {path: get_text(url + path, auth) for path in ("/stats", "/v1/events", "/v1/rejections")}
    for fmt in ("segment", "amplitude", "mparticle"):
        for path in ("/v1/events", "/v1/rejections"):
            pages[f"{path}?format={fmt}"] = get_text(f"{url}{path}?format={fmt}", auth)
    request_ids = {e["_received"]["request_id"] for e in json.loads(pages["/v1/events"])["events"]}
    request_ids |= {r["request_id"] for r in json.loads(pages["/v1/rejections"])["rejections"]}
    for request_id in range(1, max(request_ids, default=0) + 3):  # refused requests have ids too
        try:
            pages[f"/v1/requests/{request_id}"] = get_text(f"{url}/v1/requests/{request_id}", auth)
        except urllib.error.HTTPError as error:
            assert error.code == 404
    return pages


def send_to_all_formats(url: str) -> None:
    client = Client(destinations=[
        Segment(SEGMENT_KEY, host=url),
        Amplitude(AMPLITUDE_KEY, server_url=url + "/2/httpapi"),
        MParticle(MP_KEY, MP_SECRET, environment="development", host=url),
    ])
    client.identify("user-9", {"email": "grace@example.com", "firstName": "Grace"})
    client.track("user-9", "Order Completed", {"revenue": 42.0})
    assert client.flush(timeout=10)
    client.shutdown(timeout=5)
    # The key in a single call's body, in a batch's message, and in a rejected message.
    assert post(url + "/v1/track", {"writeKey": SEGMENT_KEY, "userId": "u", "event": "Body Key"}) == 200
    batch = [{"type": "track", "userId": "u", "event": "Key Inside", "writeKey": SEGMENT_KEY},
             {"type": "track", "userId": "u", "writeKey": SEGMENT_KEY}]  # no event: rejected
    assert post(url + "/v1/batch", {"batch": batch}, auth=SEGMENT_KEY + ":") == 200


def assert_no_secret(pages: Dict[str, str]) -> None:
    for where, text in pages.items():
        for secret in SECRETS:
            assert secret not in text, f"{where} gives back {secret}"


def test_no_read_endpoint_returns_a_key_or_a_secret() -> None:
    with Collector() as collector:  # no --write-key: anyone local can read
        send_to_all_formats(collector.url)
        pages = every_read(collector.url)
        assert_no_secret(pages)
        events = json.loads(pages["/v1/events"])["events"]
        shown = {e["_received"]["format"]: e["_received"]["write_key"] for e in events}
        # That one was sent, and its last four characters (mParticle's is the key, never the secret).
        assert shown == {"segment": "****A1b2", "amplitude": "****C3d4", "mparticle": "****E5f6"}
        inside = next(e for e in events if e.get("event") == "Key Inside")
        assert inside["writeKey"] == "****A1b2"
        assert all(e["_received"]["write_key"] == "****" + e["_received"]["write_key"][-4:] for e in events)
        # The Python API reads the same store: masked there too.
        assert {e["_received"]["write_key"] for e in collector.events()} <= {"****A1b2", "****C3d4", "****E5f6"}


def test_a_refused_key_is_not_quoted_whole_in_the_request_log() -> None:
    with Collector(write_key="the-right-key-0000") as collector:
        body = {"api_key": AMPLITUDE_KEY, "events": [{"event_type": "E", "user_id": "user-0001"}]}
        assert post(collector.url + "/2/httpapi", body) == 400  # Amplitude's "Invalid API key: <key>"
        assert post(collector.url + "/v2/events", {"environment": "development", "events": []},
                    auth=f"{MP_KEY}:{MP_SECRET}") == 403
        auth = "the-right-key-0000:"
        requests = [json.loads(get_text(f"{collector.url}/v1/requests/{i}", auth)) for i in (1, 2)]
        assert requests[0]["error"] == "Invalid API key: ****C3d4"
        assert_no_secret({f"request {r['id']}": json.dumps(r) for r in requests})
        assert_no_secret(every_read(collector.url, auth))


def test_short_keys_show_none_of_their_characters() -> None:
    with Collector() as collector:
        assert post(collector.url + "/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "E"}]},
                    auth="k3y:") == 200
        assert collector.events()[0]["_received"]["write_key"] == "****"


def test_identify_rows_say_what_they_set_and_who_sent_them() -> None:
    with Collector() as collector:
        client = Client(destinations=[MParticle(MP_KEY, MP_SECRET, environment="development", host=collector.url),
                                      Amplitude(AMPLITUDE_KEY, server_url=collector.url + "/2/httpapi")])
        client.identify("user-9", {"email": "grace@example.com", "firstName": "Grace"})
        client.track("user-9", "Clicked")
        assert client.flush(timeout=10)
        client.shutdown(timeout=5)
        rows = {e["_received"]["type"]: e["_received"] for e in collector.events(format="mparticle")}
        amplitude = {e["_received"]["type"]: e["_received"] for e in collector.events(format="amplitude")}
    assert amplitude["identify"]["what"] == "email, firstName"  # inside Amplitude's $set, not "$set"
    assert rows["identify"]["what"] == "email, $firstname"  # the identity set, then the attributes
    assert rows["identify"]["user_id"] == "user-9"
    for row in rows.values():
        assert row["library"].startswith("analytics-sdk-python/"), row  # mParticle's sender: its User-Agent


@pytest.mark.parametrize("timestamp", ["2024-01-01T10:00:00", "2024-01-01 10:00:00", "2024-01-01t10:00"])
def test_zone_less_times_are_flagged_with_either_separator(timestamp: str) -> None:
    with Collector() as collector:
        message = {"type": "track", "userId": "u", "event": "E", "timestamp": timestamp}
        assert post(collector.url + "/v1/batch", {"batch": [message]}) == 200
        warnings: List[str] = collector.events()[0]["_received"]["warnings"]
    assert warnings == [f"timestamp {timestamp!r} has no time zone: taken as UTC"]


@pytest.mark.parametrize("timestamp", ["2024-01-01", "2024-01-01 10:00:00Z", "2024-01-01 10:00:00+02:00"])
def test_dates_and_zoned_times_are_not_flagged(timestamp: str) -> None:
    with Collector() as collector:
        message = {"type": "track", "userId": "u", "event": "E", "timestamp": timestamp}
        assert post(collector.url + "/v1/batch", {"batch": [message]}) == 200
        assert collector.events()[0]["_received"]["warnings"] == []
