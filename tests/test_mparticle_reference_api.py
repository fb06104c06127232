"""What the reference package lets user code touch beyond its test suite, and what we do
better without changing anything else a user can observe (issue 22, sections 3 and 4).

Each test runs the same code through ``mparticle`` (the oracle, from the test extras)
and ``analytics_sdk.mparticle``, against a loopback server where it sends.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Dict, List

import mparticle as reference
import pytest

import analytics_sdk.mparticle as ours
from analytics_sdk.devserver import Collector, Faults
from analytics_sdk.devtools.api_rules.mparticle import Settings

from .mparticle_sink import Sink


@pytest.fixture(autouse=True)
def _reference_gate_off() -> Any:
    # The reference's class-level 429 gate would leak between tests.
    reference.rest.RESTClientObject.latest_response = None
    yield
    reference.rest.RESTClientObject.latest_response = None


def configure(mp: Any, url: str, **extra: Any) -> Any:
    config = mp.Configuration()
    config.api_key, config.api_secret, config.host = "key-1", "secret-1", url + "/v2"
    for name, value in extra.items():
        setattr(config, name, value)
    return mp.EventsApi(config)


def batch(mp: Any, user: str = "u-1", **event_kwargs: Any) -> Any:
    b = mp.Batch(environment="production")
    b.user_identities = mp.UserIdentities(customerid=user)
    b.events = [mp.AppEvent("Purchased Plan", "transaction", **event_kwargs)]
    return b


def sent(mp: Any, build: Any, **extra: Any) -> Dict[str, Any]:
    with Sink(Settings(keys={"key-1": "secret-1"})) as sink:
        configure(mp, sink.url, **extra).upload_events(build(mp))
    (request,) = sink.requests
    body = request.json()
    if mp is ours and extra.get("add_source_request_id", True):
        assert "-" in body.pop("source_request_id")
    return body


# -- AppEvent.ltv_amount -------------------------------------------------------------------


def with_ltv(mp: Any) -> Any:
    b = batch(mp, custom_attributes={"plan": "pro"})
    b.events[0].data.ltv_amount = 49.5
    return b


def with_ltv_removed(mp: Any) -> Any:
    b = batch(mp)
    event = b.events[0].data
    event.ltv_amount = 10
    event.ltv_amount = None
    return b


def test_ltv_amount_is_sent_like_the_reference() -> None:
    # The reference sends it as custom attributes; before, ours kept it as a plain
    # attribute and sent nothing (a silent lifetime-value loss).
    mine = sent(ours, with_ltv)
    assert mine == sent(reference, with_ltv)
    assert mine["events"][0]["data"]["custom_attributes"] == {
        "plan": "pro", "$Amount": 49.5, "MethodName": "LogLTVIncrease"}
    assert sent(ours, with_ltv_removed) == sent(reference, with_ltv_removed)


def test_ltv_amount_reads_back_and_edits_the_callers_dict_like_the_reference() -> None:
    for mp in (reference, ours):
        attributes = {"a": 1}
        event = mp.AppEvent("x", custom_attributes=attributes)
        event.ltv_amount = 3
        assert event.ltv_amount == 3 and attributes == {"a": 1, "$Amount": 3, "MethodName": "LogLTVIncrease"}
        assert "ltv_amount" not in event.to_dict()
    assert ours.AppEvent("x").ltv_amount is None  # the reference raises AttributeError before a set
    with pytest.raises(ValueError, match="ltv_amount"):
        ours.AppEvent("x").ltv_amount = [1, 2]


# -- Configuration ---------------------------------------------------------------------------


def test_configuration_logging_settings_like_the_reference(tmp_path: Path) -> None:
    mine, theirs = ours.Configuration(), reference.Configuration()
    assert mine.logger_format == theirs.logger_format and mine.logger_file is theirs.logger_file is None
    mine.logger_format = "%(levelname)s|%(message)s"
    assert mine.logger_formatter.format(logging.makeLogRecord({"msg": "m", "levelname": "INFO"})) == "INFO|m"
    path = tmp_path / "sdk.log"
    mine.logger_file = str(path)
    try:
        logging.getLogger("analytics_sdk").warning("to the file")
    finally:
        mine.logger_file = None  # removes and closes our handler
    assert mine.logger_file is None and mine.logger_file_handler is None
    assert path.read_text() == "WARNING|to the file\n"
    logging.getLogger("analytics_sdk").warning("not to the file")
    assert path.read_text() == "WARNING|to the file\n"


def test_configuration_helpers_like_the_reference() -> None:
    mine, theirs = ours.Configuration(), reference.Configuration()
    for config in (mine, theirs):
        config.api_key_store = {"a": "key-a", "b": "key-b"}
        config.api_key_prefix = {"a": "Bearer"}
        config.api_key, config.api_secret = "k", "s"
    for identifier in ("a", "b", "c"):
        assert mine.get_api_key_with_prefix(identifier) == theirs.get_api_key_with_prefix(identifier)
    assert mine.get_basic_auth_token() == theirs.get_basic_auth_token()
    assert mine.auth_settings() == theirs.auth_settings()
    assert mine.to_debug_report().split("\n")[:3] == theirs.to_debug_report().split("\n")[:3]


# -- api_client.last_response ------------------------------------------------------------------


def test_last_response_like_the_reference() -> None:
    seen: Dict[str, Any] = {}
    with Sink(Settings(keys={"key-1": "secret-1"}), script=[(202, {}), (400, {})]) as sink:
        for mp in (reference, ours):
            sink.script[:] = [(202, {}), (400, {})]
            api = configure(mp, sink.url, **({"max_retries": 0} if mp is ours else {}))
            api.upload_events(batch(mp))
            first = api.api_client.last_response
            with pytest.raises(mp.rest.ApiException) as info:
                api.upload_events(batch(mp))
            assert api.api_client.last_response is first  # a failure leaves it as it was
            seen[mp.__name__] = (first.status, first.reason, first.data, first.getheader("Retry-After", "none"),
                                 info.value.status, info.value.reason)
    assert seen["analytics_sdk.mparticle"] == seen["mparticle"] == (202, "Accepted", "", "none", 400, "Bad Request")


# -- better, and nothing else changes (section 4) ------------------------------------------------


def test_source_request_id_goes_on_the_wire_only() -> None:
    # The id is added to what is sent, never to the user's Batch: its attributes,
    # to_dict() and equality stay what the reference gives.
    for mp in (reference, ours):
        with Sink() as sink:
            b = batch(mp)
            before = b.to_dict()
            result = configure(mp, sink.url).upload_events(b)
            assert b.source_request_id is None and b.to_dict() == before and b == batch(mp)
            assert result[0] is None and result[1] == 202
    mine = batch(ours)
    mine.source_request_id = "mine-1"  # the user's own id is sent as is
    with Sink() as sink:
        configure(ours, sink.url).upload_events(mine)
    assert sink.requests[0].json()["source_request_id"] == "mine-1"


def test_without_source_request_id_the_body_is_the_references() -> None:
    assert sent(ours, batch, add_source_request_id=False) == sent(reference, batch)


def received(collector: Collector, count: int, timeout: float = 30.0) -> Dict[str, Any]:
    deadline = time.monotonic() + timeout
    while collector.summary()["received"] < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return collector.summary()


@pytest.mark.parametrize("add_id", [True, False])
def test_a_retry_after_a_lost_answer_is_deduplicated(add_id: bool) -> None:
    # The collector stores each request 1 s after it arrives (an answer the client, however
    # slow the machine, has given up on: after 0.1 s) and the client sends again. With the id,
    # mParticle (here the collector) keeps one copy.
    with Collector(faults=Faults(latency=1.0)) as collector:
        api = configure(ours, collector.url, timeout=0.1, max_retries=2, add_source_request_id=add_id)
        with pytest.raises(ours.rest.ApiException) as info:
            api.upload_events(batch(ours))
        summary = received(collector, 3)
    assert info.value.status == 0 and "after 2 retries" in info.value.reason
    assert summary["received"] == 3
    assert (summary["stored"], summary["duplicates"]) == ((1, 2) if add_id else (3, 0))


def test_background_mode_reports_every_batch_it_does_not_deliver() -> None:
    # More batches than the queue holds, to a slow server: each one is either stored or
    # reported to on_error (and to the call's callback); none vanishes.
    reported: List[Any] = []
    calls: List[Any] = []
    total = 60
    with Collector(faults=Faults(latency=0.05)) as collector:
        api = configure(ours, collector.url, background=True, max_queue_size=5,
                        on_error=lambda error, batches: reported.extend(batches))
        for i in range(total):
            api.upload_events(batch(ours, f"user-{i}"), callback=calls.append)
        assert api.flush(20)
        api.shutdown(5)
        stored = collector.summary()["stored"]
    assert reported, "the queue never filled: the test proves nothing"
    assert stored + len(reported) == total
    assert len(calls) == total
    failed = [c for c in calls if isinstance(c, ours.rest.ApiException)]
    assert len(failed) == len(reported)


def test_a_client_certificate_setting_is_not_silently_ignored(caplog: pytest.LogCaptureFixture) -> None:
    # The reference hands cert_file/key_file to urllib3; our transport has no client
    # certificates, so the upload says so (once per destination) instead of dropping the setting.
    with Sink() as sink:
        api = configure(ours, sink.url, cert_file="/etc/ssl/client.pem")
        with caplog.at_level(logging.WARNING, logger="analytics_sdk"):
            api.upload_events(batch(ours))
            api.upload_events(batch(ours))
    warnings = [r for r in caplog.records if "cert_file" in r.getMessage()]
    assert len(warnings) == 1 and len(sink.requests) == 2


def test_headers_and_host_changed_between_uploads_apply_like_the_reference() -> None:
    # The reference builds each request from api_client's headers and host; before, ours
    # froze them at the first upload (a User-Agent or Cookie set later was never sent).
    seen: Dict[str, List[Dict[str, str]]] = {}
    with Sink() as first, Sink() as second:
        for mp in (reference, ours):
            api = configure(mp, first.url)
            api.upload_events(batch(mp))
            api.api_client.user_agent = "shop-backend/2.0"
            api.api_client.set_default_header("X-Trace", "t-1")
            api.api_client.cookie = "session=abc"
            api.upload_events(batch(mp))
            api.api_client.host = second.url + "/v2"
            api.upload_events(batch(mp))
            seen[mp.__name__] = [r.headers for r in first.requests[-2:] + second.requests[-1:]]
    for mine, theirs in zip(seen["analytics_sdk.mparticle"], seen["mparticle"]):
        for name in ("X-Trace", "Cookie", "Authorization", "Content-Type"):
            assert mine.get(name) == theirs.get(name), name
    assert [h["User-Agent"] for h in seen["analytics_sdk.mparticle"][1:]] == ["shop-backend/2.0"] * 2
    assert [h["User-Agent"] for h in seen["mparticle"][1:]] == ["shop-backend/2.0"] * 2
    assert len(second.requests) == 2  # one upload of each package went to the new host


def test_configuration_read_at_each_call() -> None:
    # The reference copies configuration.host into its ApiClient once; ours reads the
    # configuration when it sends, as Amplitude's SDK does (a key or host set later applies).
    with Sink(Settings(keys={"key-2": "secret-2"})) as old, Sink(Settings(keys={"key-2": "secret-2"})) as new:
        api = configure(ours, old.url)
        api.config.api_key, api.config.api_secret = "key-2", "secret-2"
        api.upload_events(batch(ours))
        api.config.host = new.url + "/v2"
        api.upload_events(batch(ours))
    assert [a.status for a in old.answers + new.answers] == [202, 202]
