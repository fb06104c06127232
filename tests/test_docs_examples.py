"""Every Python example in README.rst and docs/ runs, so none can rot.

Each block runs in a fresh interpreter (several at once), in a folder of its own,
against one local collector on a free port. ``tests/docs_guard/sitecustomize.py``
rewrites every URL the SDK sends to onto that collector and refuses, through an
audit hook, any connection or name lookup that is not loopback: no example can
reach the internet, whatever host it names. A block that defines ``test_*``
functions runs under pytest. A block that cannot run is preceded by a comment
with the reason (``<!-- skip-test: why -->``, or ``.. skip-test: why`` in the
README); a marker without a reason fails.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

from analytics_sdk.delivery.outcomes import DROP_REASONS
from analytics_sdk.devserver import Collector

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README = REPO / "README.rst"
GUARD = Path(__file__).resolve().parent / "docs_guard"
PYTHON_LANGUAGES = {"python", "py", "python3"}
SKIP_MARKER = re.compile(r"skip-test:?(.*?)(-->)?\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(\S*)")
RST_CODE = re.compile(r"^(\s*)\.\. (?:code-block|code|sourcecode)::\s*(\S*)\s*$")
BLOCK_TIMEOUT = 90
README_MAX_LINES = 160


@dataclass(frozen=True)
class Block:
    path: str  # relative to the repository
    line: int  # of the opening fence or directive
    language: str
    code: str
    skip: Optional[str]  # the reason given, "" for a marker without one, None: no marker

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def is_pytest(self) -> bool:
        return re.search(r"^def test_", self.code, re.M) is not None


def skip_reason(lines: List[str], index: int) -> Optional[str]:
    """The skip marker on the nearest non-blank line before ``lines[index]``, if any."""
    for previous in reversed(lines[:index]):
        if previous.strip():
            text = previous.strip()
            if "skip-test" not in text:
                return None
            found = SKIP_MARKER.search(text)
            return found.group(1).strip() if found else ""
    return None


def markdown_blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        fence, language = opening.group(2), opening.group(3).lower()
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        code = textwrap.dedent("\n".join(lines[index + 1:end]))
        yield Block(str(path.relative_to(REPO)), index + 1, language, code, skip_reason(lines, index))
        index = end + 1


def rst_blocks(path: Path) -> Iterator[Block]:
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        directive = RST_CODE.match(line)
        if not directive:
            continue
        indent = len(directive.group(1))
        body: List[str] = []
        for following in lines[index + 1:]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        body = [b for b in body if not b.strip().startswith(":")]  # directive options
        code = textwrap.dedent("\n".join(body)).strip("\n")
        yield Block(str(path.relative_to(REPO)), index + 1, directive.group(2).lower(), code, skip_reason(lines, index))


def doc_pages() -> List[Path]:
    skipped = {"_build", "_generated"}
    return sorted(p for p in DOCS.rglob("*.md") if not skipped.intersection(p.relative_to(DOCS).parts))


def all_blocks() -> List[Block]:
    blocks = list(rst_blocks(README))
    for page in doc_pages():
        blocks += markdown_blocks(page)
    return blocks


BLOCKS = all_blocks()
PYTHON_BLOCKS = [b for b in BLOCKS if b.language in PYTHON_LANGUAGES]
RUNNABLE = [b for b in PYTHON_BLOCKS if b.skip is None]


def example_environment(collector_url: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and not k.startswith("PYTEST")}
    env.update(
        PYTHONPATH=str(GUARD),
        DOCS_EXAMPLES_COLLECTOR=collector_url,
        ANALYTICS_HOST=collector_url,
        ANALYTICS_WRITE_KEY="docs-example-key",
        BROKER_URL="memory://",  # the Celery example's broker: an in-process one
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run_code(code: str, folder: Path, collector_url: str, pytest_file: bool = False) -> subprocess.CompletedProcess:
    folder.mkdir(parents=True, exist_ok=True)
    name = "test_example.py" if pytest_file else "example.py"
    (folder / name).write_text(code + "\n")
    command = [sys.executable, name]
    if pytest_file:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name]
    try:
        return subprocess.run(command, cwd=folder, env=example_environment(collector_url), capture_output=True,
                              text=True, timeout=BLOCK_TIMEOUT)
    except subprocess.TimeoutExpired as expired:
        return subprocess.CompletedProcess(command, -1, str(expired.stdout or ""), f"timed out after {BLOCK_TIMEOUT} s")


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    with Collector() as running:
        yield running


@pytest.fixture(scope="module")
def results(collector: Collector, tmp_path_factory) -> Dict[str, subprocess.CompletedProcess]:
    """Every runnable block, run once, four at a time (most of a block's time is a fresh interpreter)."""
    root = tmp_path_factory.mktemp("docs-examples")

    def run(numbered: "tuple[int, Block]") -> "tuple[str, subprocess.CompletedProcess]":
        number, block = numbered
        return block.id, run_code(block.code, root / f"block-{number}", collector.url, block.is_pytest)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, enumerate(RUNNABLE)))


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_example_runs(block: Block, results) -> None:
    result = results[block.id]
    assert result.returncode == 0, f"{block.id} failed:\n{block.code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert "docs_guard: blocked" not in result.stderr, result.stderr


def test_the_examples_sent_nothing_the_collector_refused(results, collector: Collector) -> None:
    assert collector.summary()["stored"] > 0
    assert collector.rejections() == []


def test_every_skip_marker_gives_a_reason() -> None:
    assert [b.id for b in PYTHON_BLOCKS if b.skip == ""] == []
    assert [b.id for b in BLOCKS if b.skip is not None and b.language not in PYTHON_LANGUAGES] == []


def test_every_block_names_its_language() -> None:
    """An unnamed block would be neither run nor highlighted: console, text, json... say which."""
    assert [b.id for b in BLOCKS if not b.language] == []


def test_the_readme_has_no_untyped_literal_blocks() -> None:
    """A bare ``::`` block would hide a Python example from this test."""
    text = README.read_text()
    untyped = [n + 1 for n, line in enumerate(text.splitlines()) if line.rstrip().endswith("::")
               and not line.lstrip().startswith("..")]
    assert untyped == []


def test_the_readme_stays_short() -> None:
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def test_every_drop_reason_is_documented() -> None:
    delivery = (DOCS / "delivery.md").read_text()
    assert [reason for reason in DROP_REASONS if f"| `{reason}` |" not in delivery] == []


def test_the_parsers_find_the_blocks() -> None:
    assert len(RUNNABLE) >= 30
    assert any(b.path == "README.rst" for b in RUNNABLE)
    assert any(b.is_pytest for b in RUNNABLE)


# -- the guard itself ------------------------------------------------------------------------


@pytest.mark.parametrize("code", [
    "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=5)",
    "import socket\nsocket.create_connection(('93.184.215.14', 80), timeout=5)",
    "import socket\nsocket.getaddrinfo('example.com', 443)",
    "import subprocess\nsubprocess.run(['curl', 'https://example.com'])",
    "import os\nos.system('true')",
    # swallowed errors still fail the example at exit
    "import socket\ntry:\n    socket.getaddrinfo('example.com', 443)\nexcept OSError:\n    pass",
], ids=["urlopen", "connect", "dns", "subprocess", "os.system", "swallowed"])
def test_the_guard_keeps_examples_off_the_network(code: str, collector: Collector, tmp_path) -> None:
    result = run_code(code, tmp_path, collector.url)
    assert result.returncode != 0
    assert "docs_guard: blocked" in result.stderr


def test_the_guard_sends_every_sdk_url_to_the_collector(tmp_path) -> None:
    code = textwrap.dedent("""
        import analytics_sdk
        from analytics_sdk import Client, RudderStack, Segment

        client = Client(destinations=[Segment("k"), RudderStack("k", "https://acme.dataplane.rudderstack.com")])
        client.track("guard-user", "Guarded")
        assert client.flush(timeout=10), client.stats()
        analytics_sdk.write_key = "k"          # the default host, https://api.segment.io
        analytics_sdk.track("guard-user", "Guarded")
        assert analytics_sdk.flush(timeout=10)
        documented = Client("k", host="http://127.0.0.1:8088")    # the docs' collector address
        documented.track("guard-user", "Guarded")
        assert documented.flush(timeout=10)
    """)
    with Collector() as collector:
        result = run_code(code, tmp_path, collector.url)
        assert result.returncode == 0, result.stderr
        # four messages arrived; the two destinations sent the same messageId, stored once
        assert len(collector.events(event="Guarded")) == 3
        assert collector.summary()["duplicates"] == 1


def test_contributing_names_every_module() -> None:
    """CONTRIBUTING.md's layout cannot silently miss a module of the core."""
    layout = (REPO / "CONTRIBUTING.md").read_text()
    package = REPO / "analytics_sdk"
    missing = []
    for module in sorted(package.glob("*.py")) + sorted(package.glob("*/*.py")):
        relative = module.relative_to(package)
        if relative.parent.name in ("amplitude", "mparticle", "devtools") or relative.name == "__init__.py":
            continue  # the drop-ins and devtools are listed as folders
        if relative.parent.name == "wire":  # rows may name siblings short
            if f"`{relative.name}`" not in layout and f"`{relative}`" not in layout:
                missing.append(str(relative))
        elif f"`{relative}`" not in layout:
            missing.append(str(relative))
    assert missing == []


def load_generated_pages():
    """docs/_ext/generated_pages.py, the docs build's extension (pure rendering functions)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("generated_pages", DOCS / "_ext" / "generated_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_reference_has_a_row_per_setting() -> None:
    from analytics_sdk.settings import SETTINGS

    table = load_generated_pages().settings_markdown(SETTINGS)
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [setting.name for setting in SETTINGS]


def test_the_performance_table_shows_us_beside_the_peers() -> None:
    pages = load_generated_pages()
    table = pages.performance_markdown(*pages.load_benchmark())
    for label in ("analytics_sdk (default install)", "segment-analytics-python", "rudder-sdk-python", "posthog"):
        assert f"| {label} |" in table
