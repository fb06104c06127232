"""Pages built from the code at docs build time, so they cannot drift from it.

* ``_generated/settings.md``: the configuration reference, from
  ``analytics_sdk.settings.SETTINGS`` (the SDK's one list of settings);
* ``_generated/performance.md``: the headline table, from
  ``benchmarks/latest.json`` (written by ``make bench``) with the labels of
  ``benchmarks/compare.py``.

The rendering functions are pure (text in, text out); ``setup`` writes the
files when Sphinx starts. ``_generated/`` is not committed.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
from typing import Any, Dict, Iterable, List, Mapping, Sequence

DOCS = pathlib.Path(__file__).resolve().parent.parent
REPO = DOCS.parent
GENERATED = DOCS / "_generated"

# The rows of the headline table: our two installs, then the peers measured beside them.
HEADLINE_ROWS = ("analytics_sdk", "analytics_sdk_speed", "segment", "rudder", "posthog")
BASELINE = "segment"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |"

    out = [line(header), line(["---"] * len(header))]
    out += [line(row) for row in rows]
    return "\n".join(out) + "\n"


def code(text: str) -> str:
    return f"`{text}`" if text else ""


# -- settings ------------------------------------------------------------------------


def settings_markdown(settings: Sequence[Any]) -> str:
    """One row per setting, in SETTINGS' order: name, default, meaning, kind."""
    rows = []
    for setting in settings:
        rows.append([code(setting.name), code(repr(setting.default)), str(setting.doc).strip(), _kind(setting)])
    legend = (
        "\n*positional*: one of segment-analytics-python's arguments, in its order "
        "(`Client(write_key, host, ...)`); the others are keyword-only. *live*: at module "
        "level, assigning it acts on the running default client at once.\n"
    )
    return markdown_table(["Setting", "Default", "Meaning", "Kind"], rows) + legend


def _kind(setting: Any) -> str:
    kind = "positional" if getattr(setting, "positional", False) else "keyword-only"
    return kind + (", live" if getattr(setting, "live", False) else "")


def load_settings() -> Sequence[Any]:
    from analytics_sdk.settings import SETTINGS

    return SETTINGS


# -- performance -----------------------------------------------------------------------


def _fmt(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def performance_markdown(latest: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    medians: Dict[str, Dict[str, float]] = latest["medians"]
    base = medians[BASELINE]
    rows: List[List[str]] = []
    for name in HEADLINE_ROWS:
        if name not in medians:
            continue
        row = medians[name]
        ours = name != BASELINE  # every row but the baseline gets its ratio

        def cell(key: str, digits: int) -> str:
            text = _fmt(row[key], digits)
            if ours:
                ratio = row[key] / base[key]
                text += f" ({ratio:.2f}x)"
            return text

        rows.append([
            labels.get(name, name),
            cell("caller_us", 1),
            cell("p999_us", 1),
            cell("events_per_s", 0),
            cell("rss_per_event", 0),
            _fmt(row.get("refused", 0), 0),
        ])
    header = ["SDK", "caller us", "p99.9 us", "events/s", "RSS B/event", "refused"]
    note = (
        f"\n{latest['events']:,} calls per run, median of {latest['runs']} runs; "
        f"(ratio) against {labels.get(BASELINE, BASELINE)} in the same run.\n"
    )
    return markdown_table(header, rows) + note


def load_benchmark() -> "tuple[Dict[str, Any], Dict[str, str]]":
    latest = json.loads((REPO / "benchmarks" / "latest.json").read_text())
    spec = importlib.util.spec_from_file_location("bench_compare", REPO / "benchmarks" / "compare.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # stdlib only at import time; runs nothing
    labels = {name: label for name, (label, _env) in module.SDKS.items()}
    return latest, labels


# -- Sphinx --------------------------------------------------------------------------------


def write_pages(*_: Any) -> None:
    GENERATED.mkdir(exist_ok=True)
    (GENERATED / "settings.md").write_text(settings_markdown(load_settings()))
    (GENERATED / "performance.md").write_text(performance_markdown(*load_benchmark()))


def setup(app: Any) -> Dict[str, Any]:
    app.connect("config-inited", write_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
