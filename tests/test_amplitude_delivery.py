"""The Amplitude destination against a loopback Amplitude API: every documented response
body, only the named events dropped (and reported), throttled users held while others
flow, nothing lost without a reason; builders from the module API to both Segment and Amplitude."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Dict, List, Tuple

import pytest

from analytics_sdk import Client, Identify, Revenue, Segment
from analytics_sdk.wire import Amplitude
from analytics_sdk.devtools.api_rules import amplitude as fmt

from .amplitude_sink import Sink


class Outcomes:
    """Every outcome per insert_id: each event must get exactly one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: Dict[str, List[Tuple[int, str]]] = {}

    def __call__(self, event: Dict[str, Any], code: int, message: str) -> None:
        with self.lock:
            self.seen.setdefault(event["insert_id"], []).append((code, message))

    def exactly_once(self, ids: List[str]) -> Dict[str, Tuple[int, str]]:
        assert sorted(self.seen) == sorted(ids)
        assert all(len(v) == 1 for v in self.seen.values()), self.seen
        return {k: v[0] for k, v in self.seen.items()}


def client_for(sink: Sink, outcomes: Outcomes, **destination: Any) -> Client:
    return Client(
        destinations=[Amplitude("good-key", server_url=sink.url, **destination)],
        callback=outcomes, upload_interval=60, upload_size=100, max_retries=3, flush_timeout=10,
    )


def track_all(client: Client, users: List[str]) -> List[str]:
    return [client.track(user, "Played", {"i": i}, message_id=f"m-{i}")[1]["messageId"] for i, user in enumerate(users)]


def ingested_ids(sink: Sink) -> List[str]:
    return [event["insert_id"] for event in sink.ingested]


def test_400_drops_only_named_events_and_delivers_the_rest_once():
    with Sink() as sink:
        outcomes = Outcomes()
        client = client_for(sink, outcomes)
        ids = track_all(client, ["user-1", "abc", "user-3", "null", "user-5"])  # "abc" too short, "null" refused
        assert client.flush()
        client.shutdown()
    result = outcomes.exactly_once(ids)
    assert sorted(ingested_ids(sink)) == ["m-0", "m-2", "m-4"]
    assert {k for k, (code, _) in result.items() if code == 400} == {"m-1", "m-3"}
    assert "user_id (too short)" in result["m-1"][1] and "user_id (invalid)" in result["m-3"][1]
    assert client.stats()["dropped"] == {"invalid": 2}


def test_invalid_api_key_is_dropped_not_retried_and_logged_once(caplog):
    caplog.set_level(logging.ERROR, logger="analytics_sdk")
    with Sink(api_keys={"other-key"}) as sink:
        outcomes = Outcomes()
        client = client_for(sink, outcomes)
        first = track_all(client, ["user-1", "user-2"])
        assert client.flush()
        second = [client.track("user-3", "Again", message_id="m-9")[1]["messageId"]]
        assert client.flush()
        client.shutdown()
    result = outcomes.exactly_once(first + second)
    assert len(sink.requests) == 2  # one per flush: never retried
    assert all(code == 400 and "unauthorized" in message for code, message in result.values())
    key_errors = [r for r in caplog.records if "refused the API key" in r.getMessage()]
    assert len(key_errors) == 1 and "good-key" not in caplog.text


def test_401_and_403_are_dropped_as_unauthorized():
    answers = iter([(401, b""), (403, b'{"code": 403, "error": "Forbidden"}')])
    with Sink(lambda path, raw, default: next(answers)) as sink:
        outcomes = Outcomes()
        client = client_for(sink, outcomes)
        ids = track_all(client, ["user-1"])
        client.flush()
        ids += [client.track("user-2", "E", message_id="m-x")[1]["messageId"]]
        client.flush()
        client.shutdown()
    assert [code for code, _ in outcomes.exactly_once(ids).values()] == [401, 403]
    assert client.stats()["dropped"] == {"unauthorized": 2}


def test_413_splits_until_it_fits_and_a_lone_event_is_dropped():
    def responder(path, raw, default):
        events = json.loads(raw)["events"]
        if len(events) > 2 or any(e["event_properties"]["i"] == 3 for e in events):
            return 413, b'{"code": 413, "error": "Payload too large"}'
        return None

    with Sink(responder) as sink:
        outcomes = Outcomes()
        client = client_for(sink, outcomes)
        ids = track_all(client, [f"user-{i}" for i in range(7)])
        assert client.flush()
        client.shutdown()
    result = outcomes.exactly_once(ids)
    assert sorted(ingested_ids(sink)) == ["m-0", "m-1", "m-2", "m-4", "m-5", "m-6"]
    assert result["m-3"][0] == 413 and client.stats()["dropped"] == {"too_large": 1}


def test_429_holds_throttled_users_while_others_flow_and_drops_daily_quota():
    throttle = fmt.Throttle(users=frozenset({"hot-user"}), daily_users=frozenset({"spent-user"}))

    def responder(path, raw, default):
        status, body = default()
        if status == 429:  # from now on only the daily quota is spent: the hot user may come back
            sink.answer_options["throttle"] = fmt.Throttle(daily_users=frozenset({"spent-user"}))
        return status, body

    sink = Sink(responder, throttle=throttle)
    with sink:
        outcomes = Outcomes()
        client = client_for(sink, outcomes, retry_throttled_interval=0.3)
        ids = track_all(client, ["hot-user", "cold-user", "spent-user", "hot-user", "cold-user"])
        assert client.flush()
        client.shutdown()
    result = outcomes.exactly_once(ids)
    assert result["m-2"][0] == 429 and client.stats()["dropped"] == {"quota_exceeded": 1}
    order = ingested_ids(sink)
    assert sorted(order) == ["m-0", "m-1", "m-3", "m-4"]
    # The cold user's events went through before the held hot-user events came back.
    assert order.index("m-1") < order.index("m-0") and order.index("m-4") < order.index("m-3")
    assert [json.loads(raw)["events"][0]["user_id"] for _, _, raw in sink.requests].count("hot-user") >= 2


def test_5xx_is_retried_with_the_same_insert_id_and_body_code_wins():
    answers = iter([(503, b""), (500, b'{"code": 200}')])
    with Sink(lambda path, raw, default: next(answers, None)) as sink:
        outcomes = Outcomes()
        client = Client(destinations=[Amplitude("good-key", server_url=sink.url)], callback=outcomes,
                        upload_interval=60, flush_timeout=10)
        client._consumer.retry_policy = type(client._consumer.retry_policy)(backoff_base=0.01)
        ids = track_all(client, ["user-1", "user-2"])
        assert client.flush()
        ids += [client.track("user-3", "E", message_id="m-z")[1]["messageId"]]
        assert client.flush()  # a 200 without code: delivered
        client.shutdown()
    assert all(code in (200, 500) for code, _ in outcomes.exactly_once(ids).values())
    bodies = sink.bodies()
    assert [e["insert_id"] for e in bodies[0]["events"]] == [e["insert_id"] for e in bodies[1]["events"]]
    assert len(bodies) == 3 and ingested_ids(sink) == ["m-z"]


def test_module_api_builders_reach_segment_as_traits_and_amplitude_as_operations(collector):
    with Sink() as sink:
        client = Client(destinations=[Segment("seg-key", host=collector.url), Amplitude("good-key", server_url=sink.url)],
                        upload_interval=60, flush_timeout=10)
        client.identify("user-1", Identify().set("plan", "pro").add("logins", 1))
        client.group("user-1", "acme", Identify().set_once("tier", "gold"), integrations={"Amplitude": {"group_type": "org"}})
        client.track("user-1", "Order Completed", Revenue(9.99, quantity=2, product_id="sku-1"))
        assert client.flush()
        client.shutdown()
    amplitude = {e["event_type"]: e for e in sink.ingested}
    assert amplitude["$identify"]["user_properties"] == {"$set": {"plan": "pro"}, "$add": {"logins": 1}}
    assert amplitude["$groupidentify"]["group_properties"] == {"$setOnce": {"tier": "gold"}}
    assert amplitude["$groupidentify"]["groups"] == {"org": "acme"}
    order = amplitude["Order Completed"]
    assert (order["price"], order["quantity"], order["productId"]) == (9.99, 2, "sku-1")
    segment = {m["type"]: m for m in collector.events()}
    assert segment["identify"]["traits"] == {"plan": "pro"}
    assert segment["identify"]["integrations"]["Amplitude"]["user_properties"]["$add"] == {"logins": 1}
    assert segment["track"]["properties"] == {"price": 9.99, "quantity": 2, "productId": "sku-1"}


def test_alias_is_reported_for_amplitude_and_still_reaches_segment(collector):
    errors: List[Any] = []
    with Sink() as sink:
        client = Client(destinations=[Segment("seg-key", host=collector.url), Amplitude("good-key", server_url=sink.url)],
                        on_error=lambda error, msgs: errors.append(error), flush_timeout=10)
        ok, _ = client.alias("old-id", "user-1")
        assert client.flush()
        client.shutdown()
    assert not ok and [e.reason for e in errors] == ["unsendable"] and errors[0].destination == "Amplitude"
    assert [m["type"] for m in collector.events()] == ["alias"] and not sink.requests
