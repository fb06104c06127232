"""The live viewer in a real headless Chromium: events appear as the SDK sends them, filters
narrow them, a click shows the message and its request.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and
``selenium`` (the [test] extra); without them these tests are skipped, and only these.
Set ``VIEWER_SCREENSHOT=path.png`` to save what the browser shows.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Iterator, List

import pytest
import requests

from analytics_sdk import Client
from analytics_sdk.wire import Amplitude, MParticle
from analytics_sdk.devserver import Collector

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")) if p and os.path.exists(p)), None)
DRIVER = next((p for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver") if p and os.path.exists(p)), None)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (it is in the [test] extra)")
if CHROMIUM is None or DRIVER is None:
    pytest.skip(
        "browser tests need Chromium and its driver: apt-get install chromium chromium-driver (.ci/run does)",
        allow_module_level=True,
    )

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

BROWSER_ZONE = "Europe/Berlin"  # not the machine's: proves times carry their zone


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    profile = tempfile.mkdtemp(prefix="viewer-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--no-proxy-server", "--window-size=1440,900", "--lang=en-US", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=DRIVER, env={**os.environ, "TZ": BROWSER_ZONE})
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait(driver: Any, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda _: condition())


def rows(driver: Any) -> List[List[str]]:
    """The table as text, newest first: [time, type, user, what, library, format, flags]."""
    # One script call: the page re-renders the table as events arrive, so element handles go stale.
    return driver.execute_script(
        "return [...document.querySelectorAll('#events tbody tr')].map(tr => [...tr.cells].map(td => td.innerText))"
    )


def open_viewer(driver: Any, url: str) -> None:
    driver.get(url)
    try:
        wait(driver, lambda: driver.find_elements(By.ID, "empty"))
    except Exception:
        pytest.fail(f"the viewer did not load from {url}: {driver.current_url} {driver.page_source[:500]}")


def send_session(collector: Collector) -> None:
    client = Client("viewer-key", host=collector.url)
    client.identify("ada", {"email": "ada@example.com", "plan": "pro"})
    client.track("ada", "Signed Up", {"plan": "pro"})
    client.page("ada", "Docs", "Quickstart", {"url": "https://example.com/docs"})
    client.track("ada", "Order Completed", {"revenue": "42.50", "currency": "EUR"})  # revenue as text: a warning
    client.screen(anonymous_id="anon-7", name="Cart")
    client.group("ada", "acme", {"name": "Acme", "employees": 12})
    client.track("grace", "Order Completed", {"revenue": 9.99, "currency": "USD"})
    assert client.flush(timeout=10)
    client.shutdown(timeout=5)
    bad = {"batch": [{"type": "track", "userId": "grace", "messageId": "no-event"}]}  # dropped by Segment
    auth = "Basic " + base64.b64encode(b"viewer-key:").decode()
    assert requests.post(collector.url + "/v1/batch", json=bad, headers={"Authorization": auth}, timeout=5).status_code == 200


def test_events_appear_live_filter_and_open(browser):
    with Collector() as collector:
        open_viewer(browser, collector.url + "/")
        assert "Waiting for events" in browser.find_element(By.ID, "empty").text
        assert BROWSER_ZONE in browser.find_element(By.ID, "time-head").get_attribute("textContent")
        send_session(collector)  # after the page loaded: they must arrive without a reload
        wait(browser, lambda: len(rows(browser)) == 8)
        table = rows(browser)
        assert table[0][1] == "track" and table[0][6] == "rejected"  # newest first
        assert {r[1] for r in table} == {"identify", "track", "page", "screen", "group"}
        assert all(r[0].endswith(("GMT+1", "GMT+2")) for r in table), table[0][0]  # the browser's zone, named
        assert all(r[5] == "segment" for r in table)
        assert all(r[4].startswith("analytics-sdk-python/") for r in table if r[6] != "rejected")
        warned = [r for r in table if r[6].endswith("warning")]
        assert [(r[2], r[3]) for r in warned] == [("ada", "Order Completed")]
        wait(browser, lambda: browser.find_element(By.ID, "c-accepted").text == "7")
        assert browser.find_element(By.ID, "c-rejected").text == "1"
        assert browser.find_elements(By.CSS_SELECTOR, "#chart rect.t-track")  # this minute's bar

        Select(browser.find_element(By.ID, "f-type")).select_by_visible_text("track")
        wait(browser, lambda: {r[1] for r in rows(browser)} == {"track"})
        assert len(rows(browser)) == 4  # three accepted, one rejected
        browser.find_element(By.ID, "f-user").send_keys("grace")
        wait(browser, lambda: len(rows(browser)) == 2)
        browser.find_element(By.ID, "f-rejected").click()  # hide rejected messages
        wait(browser, lambda: [r[2] for r in rows(browser)] == ["grace"])
        browser.find_element(By.ID, "f-rejected").click()
        browser.find_element(By.ID, "f-user").clear()
        Select(browser.find_element(By.ID, "f-type")).select_by_visible_text("all")
        browser.find_element(By.ID, "f-event").send_keys("Signed Up")
        wait(browser, lambda: [r[3] for r in rows(browser) if r[6] != "rejected"] == ["Signed Up"])
        browser.find_element(By.ID, "f-event").clear()
        browser.find_element(By.ID, "f-q").send_keys("example.com/docs")  # search any text
        wait(browser, lambda: [r[1] for r in rows(browser)] == ["page"])
        browser.find_element(By.ID, "f-q").clear()
        # Time range: from one hour ahead, nothing matches.
        browser.execute_script(
            "const f = document.getElementById('f-since'); const d = new Date(Date.now() + 3600e3);"
            "f.value = new Date(d - d.getTimezoneOffset() * 60e3).toISOString().slice(0, 19);"
            "f.dispatchEvent(new Event('change'))"
        )
        wait(browser, lambda: rows(browser) == [])
        browser.execute_script(
            "const f = document.getElementById('f-since'); f.value = ''; f.dispatchEvent(new Event('change'))"
        )
        wait(browser, lambda: len(rows(browser)) == 8)

        target = next(e for e in collector.events(event="Order Completed") if e["userId"] == "ada")
        browser.execute_script(f"document.querySelector('#events tr[data-key=\"e{target['_received']['seq']}\"]').click()")
        detail = browser.find_element(By.ID, "detail")
        wait(browser, lambda: detail.is_displayed())
        shown = json.loads(browser.find_element(By.ID, "detail-json").text)
        target.pop("_received")
        assert shown == target  # the full message, as stored
        assert "properties.revenue is a string; Segment expects a number" in browser.find_element(By.ID, "detail-warnings").text
        wait(browser, lambda: "POST /v1/batch → 200" in browser.find_element(By.ID, "detail-request").text)
        request_text = browser.find_element(By.ID, "detail-request").text
        assert "Authorization: [redacted]" in request_text and "User-Agent: analytics-sdk-python/" in request_text
        assert base64.b64encode(b"viewer-key:").decode() not in request_text
        if os.environ.get("VIEWER_SCREENSHOT"):
            time.sleep(0.3)
            browser.save_screenshot(os.environ["VIEWER_SCREENSHOT"])


def test_a_protected_collector_asks_the_browser_for_the_key(browser):
    with Collector(write_key="secret-key") as collector:
        host = collector.url.split("//", 1)[1]
        browser.get(collector.url + "/")
        assert not browser.find_elements(By.ID, "events")  # 401 (the browser would prompt): no viewer
        open_viewer(browser, f"http://secret-key:@{host}/")  # what the browser's sign-in prompt sends
        client = Client("secret-key", host=collector.url)
        client.track("u1", "Behind A Key")
        assert client.flush(timeout=10)
        client.shutdown(timeout=5)
        wait(browser, lambda: [r[3] for r in rows(browser)] == ["Behind A Key"])


def test_rows_are_shown_once_when_a_requery_and_a_poll_overlap(browser):
    with Collector() as collector:
        open_viewer(browser, collector.url + "/")
        client = Client("k", host=collector.url)
        for name in ("A", "B", "C"):
            client.track("u1", name)
        client.page("u1", "Docs", "Intro")
        assert client.flush(timeout=10)
        client.shutdown(timeout=5)
        wait(browser, lambda: len(rows(browser)) == 4)
        # Hold back the re-query a filter change makes until a poll's answers were taken in.
        browser.execute_script(COUNT_ANSWERS.replace("HOLD", "true"))
        Select(browser.find_element(By.ID, "f-type")).select_by_visible_text("track")
        # Both held answers (events, rejections) taken in, after a poll's had been.
        wait(browser, lambda: browser.execute_script("return window.taken.desc") == 2)
        keys = browser.execute_script("return [...document.querySelectorAll('#events tbody tr')].map(tr => tr.dataset.key)")
        assert sorted(keys) == sorted(set(keys)) and len(keys) == 3, keys


# Wraps the page's fetch: counts polls (each asks for /stats) in window.polls and the answers the
# page has taken in (a task after the promise chain that draws them) in window.taken, by order:
# asc for polls, desc for the re-query a filter change makes. With HOLD, that re-query is sent
# once a poll's two answers (events, rejections) were taken in.
COUNT_ANSWERS = (
    "window.polls = 0; window.taken = {asc: 0, desc: 0}; const real = window.fetch;"
    "const counted = (kind, answer) => answer.then((response) => {"
    "  const json = response.json.bind(response);"
    "  response.json = () => json().then((body) => { setTimeout(() => { window.taken[kind] += 1 }); return body });"
    "  return response });"
    "window.fetch = (url, options) => {"
    "  const text = String(url);"
    "  if (text.includes('/stats')) window.polls += 1;"
    "  const kind = text.includes('order=desc') ? 'desc' : text.includes('order=asc') ? 'asc' : null;"
    "  if (!kind) return real(url, options);"
    "  if (kind === 'asc' || !HOLD) return counted(kind, real(url, options));"
    "  const seen = window.taken.asc;"
    "  return new Promise((done) => { const check = () => window.taken.asc >= seen + 2 ? done() : setTimeout(check, 20); check() })"
    "    .then(() => counted(kind, real(url, options)))"
    "}"
)


def test_a_filter_change_never_shows_rows_it_then_takes_back(browser):
    """A poll between a filter change and its re-query (the 250 ms debounce) used to show the new
    filter's rows, which the re-query then cleared and drew again: a flicker, and a click in that
    gap found no row (a CI failure)."""
    with Collector() as collector:
        open_viewer(browser, collector.url + "/")
        client = Client("k", host=collector.url)
        for name in ("A", "B", "C"):
            client.track("u1", name)
        assert client.flush(timeout=10)
        client.shutdown(timeout=5)
        wait(browser, lambda: len(rows(browser)) == 3)
        browser.find_element(By.ID, "f-user").send_keys("nobody")
        wait(browser, lambda: rows(browser) == [])
        # Record the row count at each change of the table.
        browser.execute_script(
            COUNT_ANSWERS.replace("HOLD", "false") + "; window.counts = [];"
            "new MutationObserver(() => window.counts.push(document.querySelectorAll('#events tbody tr').length))"
            "  .observe(document.querySelector('#events tbody'), {childList: true})"
        )
        # Keep typing (each input restarts the debounce) until a second poll began: the first one
        # then ran, and ended, while the change was pending. Then the re-query runs.
        clear = "const f = document.getElementById('f-user'); f.value = ''; f.dispatchEvent(new Event('input'));"
        wait(browser, lambda: browser.execute_script(clear + "return window.polls") >= 2)
        wait(browser, lambda: browser.execute_script("return window.taken.desc") == 2)
        assert len(rows(browser)) == 3
        counts = browser.execute_script("return window.counts")
        assert counts == [3], counts  # drawn once, by the re-query


# -- every window width --------------------------------------------------------------------------------

WIDTHS = (360, 500, 1024, 1400)  # the three, and a laptop where the detail squeezes the table most
SCREENSHOTS = os.environ.get("VIEWER_SCREENSHOTS")  # a directory: docs/viewer-<width>.png are made there


@pytest.fixture
def window(browser) -> Iterator[Callable[[int], None]]:
    """Sets the page's viewport to a width (CSS pixels), as a phone or a desktop window would have it."""
    def resize(width: int, height: int = 900) -> None:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        wait(browser, lambda: browser.execute_script("return window.innerWidth") == width)

    yield resize
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def send_every_format(collector: Collector) -> None:
    """A Segment session, the same calls to mParticle and Amplitude, a zone-less timestamp."""
    send_session(collector)
    client = Client(destinations=[
        MParticle("mp-key", "mp-secret", environment="development", host=collector.url),
        Amplitude("amp-key", server_url=collector.url + "/2/httpapi"),
    ])
    client.identify("grace", {"email": "grace@example.com", "firstName": "Grace"})
    client.track("grace", "Order Completed", {"order_id": "o-9", "revenue": 42.0, "currency": "EUR",
                                              "products": [{"product_id": "tee", "price": 21.0, "quantity": 2}]})
    client.track("grace", "Clicked Buy")
    assert client.flush(timeout=10)
    client.shutdown(timeout=5)
    zoneless = {"batch": [{"type": "track", "userId": "ada", "event": "Local Time", "timestamp": "2024-01-01 10:00:00"}]}
    assert requests.post(collector.url + "/v1/batch", json=zoneless, timeout=5).status_code == 200


EVERY_FORMAT_ROWS = 8 + 6 + 1  # the Segment session (one rejected), mParticle and Amplitude's 3 each, one more


def overflow(driver: Any) -> dict:
    """Sideways overflow of the page, of the table's box, and of each what/reason cell."""
    return driver.execute_script(
        "const box = document.querySelector('.table-box');"
        "const cut = [...document.querySelectorAll('#events td.what')].filter(td => td.scrollWidth > td.clientWidth + 1);"
        "return {page: Math.max(0, document.documentElement.scrollWidth - window.innerWidth),"
        "        table: Math.max(0, box.scrollWidth - box.clientWidth), cut: cut.map(td => td.textContent)}"
    )


def screenshot(driver: Any, name: str) -> None:
    if SCREENSHOTS:
        time.sleep(0.3)  # the chart's next poll has drawn it at this width
        driver.save_screenshot(os.path.join(SCREENSHOTS, name))


@pytest.mark.parametrize("width", WIDTHS)
def test_fits_the_window_with_and_without_the_detail(browser, window, width):
    with Collector() as collector:
        send_every_format(collector)
        window(width)
        open_viewer(browser, collector.url + "/")
        wait(browser, lambda: len(rows(browser)) == EVERY_FORMAT_ROWS)
        wait(browser, lambda: browser.find_element(By.ID, "c-accepted").text == "14")
        assert overflow(browser) == {"page": 0, "table": 0, "cut": []}, width
        screenshot(browser, f"viewer-{width}.png")

        rejected = next(i for i, row in enumerate(rows(browser)) if row[6] == "rejected")
        browser.execute_script(f"document.querySelectorAll('#events tbody tr')[{rejected}].click()")
        wait(browser, lambda: "POST /v1/batch" in browser.find_element(By.ID, "detail-request").text)
        assert overflow(browser) == {"page": 0, "table": 0, "cut": []}, width
        detail = browser.execute_script(
            "const r = document.getElementById('detail').getBoundingClientRect(), t = document.querySelector('.table-box').getBoundingClientRect();"
            "return {left: r.left, right: r.right, tableRight: t.right, page: document.documentElement.clientWidth,"
            "        position: getComputedStyle(document.getElementById('detail')).position}"
        )
        if width <= 700:  # over the table, the whole window wide
            assert detail["position"] == "fixed" and detail["left"] == 0 and detail["right"] == detail["page"], detail
        else:  # beside the table, which keeps its reasons whole
            assert detail["position"] != "fixed" and detail["tableRight"] <= detail["left"] + 1, detail
            reason = browser.execute_script("return document.querySelector('#events tr.rejected td.what').textContent")
            assert reason == "track needs event (a non-empty string)"
        screenshot(browser, f"viewer-{width}-detail.png")
        browser.find_element(By.ID, "detail-close").click()
        wait(browser, lambda: not browser.find_element(By.ID, "detail").is_displayed())
        # The filters: folded on a phone (the table first), a line or two on a desktop.
        height = browser.execute_script("const box = document.getElementById('filter-box'); return box && box.offsetHeight")
        assert height and height < (40 if width <= 700 else 160), height


def test_other_formats_types_rows_and_warnings(browser, window):
    window(1400)
    with Collector() as collector:
        send_every_format(collector)
        open_viewer(browser, collector.url + "/")
        wait(browser, lambda: len(rows(browser)) == EVERY_FORMAT_ROWS)
        legend = lambda: browser.find_element(By.ID, "legend").text.split()  # noqa: E731
        wait(browser, lambda: "custom_event" in legend())
        assert {"custom_event", "commerce_event", "track", "identify"} <= set(legend())
        assert browser.find_elements(By.CSS_SELECTOR, "#chart rect.t-custom_event")
        assert browser.find_elements(By.CSS_SELECTOR, "#chart rect.t-commerce_event")
        mparticle = [r for r in rows(browser) if r[5] == "mparticle"]
        identify = next(r for r in mparticle if r[1] == "identify")
        assert identify[2:5] == ["grace", "email, $firstname", identify[4]] and identify[4].startswith("analytics-sdk-python/")
        assert all(r[4].startswith("analytics-sdk-python/") for r in mparticle)  # the library of every format's rows
        options = [o.text for o in Select(browser.find_element(By.ID, "f-type")).options]
        assert {"custom_event", "commerce_event"} <= set(options)
        Select(browser.find_element(By.ID, "f-type")).select_by_visible_text("commerce_event")
        wait(browser, lambda: [(r[1], r[3]) for r in rows(browser)] == [("commerce_event", "purchase")])
        Select(browser.find_element(By.ID, "f-type")).select_by_visible_text("all")
        wait(browser, lambda: len(rows(browser)) == EVERY_FORMAT_ROWS)
        local = next(r for r in rows(browser) if r[3] == "Local Time")
        assert local[6] == "1 warning"  # "2024-01-01 10:00:00": no zone, like "...T10:00:00"
        browser.execute_script("[...document.querySelectorAll('#events tbody tr')].find(tr => tr.cells[3].innerText === 'Local Time').click()")
        wait(browser, lambda: "has no time zone" in browser.find_element(By.ID, "detail-warnings").text)
