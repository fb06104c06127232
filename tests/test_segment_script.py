"""A script written for segment-analytics-python runs unchanged after swapping the import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SEGMENT_STYLE_SCRIPT = textwrap.dedent(
    """
    import sys
    from datetime import datetime
    import analytics_sdk as analytics          # was: import segment.analytics as analytics

    analytics.write_key = "YOUR_WRITE_KEY"
    analytics.host = sys.argv[1]
    analytics.debug = False
    analytics.on_error = lambda error, items: print("error:", error)

    analytics.identify("019mr8mf4r", {"email": "john@example.com", "name": "John Smith", "friends": 30})
    analytics.track("f4ca124298", "Signed Up", {"plan": "Enterprise"})
    analytics.track(user_id="f4ca124298", event="Article Bookmarked",
                    properties={"title": "Snow Fall", "subtitle": "The Avalance at Tunnel Creek"},
                    context={"ip": "192.168.0.1"}, timestamp=datetime(2014, 9, 3),
                    anonymous_id="anon-1", integrations={"Amplitude": True}, message_id="msg-fixed-1")
    analytics.page("user_id", "Docs", "Python", {"url": "http://segment.com"})
    analytics.screen("user_id", "Recipes", "Main Screen", {"url": "http://segment.com"})
    analytics.group("userId", "groupId", {"name": "Initech", "description": "Accounting Software"})
    analytics.alias("previousId", "userId")
    analytics.flush()
    """
)


def test_segment_script_runs_unchanged(collector):
    result = subprocess.run(
        [sys.executable, "-c", SEGMENT_STYLE_SCRIPT, collector.url], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "error:" not in result.stdout
    events = {e["messageId"]: e for e in collector.events()}
    assert len(events) == 7
    fixed = events["msg-fixed-1"]
    assert fixed["timestamp"] == "2014-09-03T00:00:00+00:00"
    assert fixed["context"]["ip"] == "192.168.0.1" and fixed["integrations"] == {"Amplitude": True}
    assert sorted(e["type"] for e in events.values()) == ["alias", "group", "identify", "page", "screen", "track", "track"]
