"""Loaded by every interpreter that tests/test_docs_examples.py starts (through
PYTHONPATH, so their children too): documentation examples stay on this machine.

* Every URL the SDK sends to is rewritten to the local collector named by
  ``DOCS_EXAMPLES_COLLECTOR`` (scheme, host and port; the path is kept), so an
  example written for api.segment.io, a RudderStack data plane, Amplitude or
  mParticle runs the real code against the collector, which speaks all three.
* An audit hook, which nothing can remove, refuses any connection to, or name
  lookup of, anything but loopback, and starting any program but Python. A refusal
  is printed at once and makes the interpreter exit with status 3 at the end, even
  if the example (or the SDK's retry loop) swallowed the error.
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.util
import os
import sys
from typing import Any, List, Optional
from urllib.parse import urlsplit, urlunsplit

COLLECTOR = os.environ.get("DOCS_EXAMPLES_COLLECTOR", "")
LOOPBACK_NAMES = {"localhost", "::1", "ip6-localhost"}
# Programs ctypes.util.find_library runs (pytest plugins call it): local tools, no network.
LIBRARY_LOOKUP_TOOLS = {"ldconfig", "gcc", "cc", "ld", "objdump"}
# The collector's documented address: examples name it, the test's collector answers it.
DOCUMENTED_COLLECTOR = ("127.0.0.1", 8088)
TRANSPORT_MODULE = "analytics_sdk.delivery.transport"
BLOCKED: List[str] = []


def is_loopback(host: Any) -> bool:
    if host is None:
        return True  # getaddrinfo(None, port): the local wildcard
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    host = host.strip("[]").lower()
    return host in LOOPBACK_NAMES or host.startswith("127.")


def refuse(what: str) -> None:
    BLOCKED.append(what)
    print(f"docs_guard: blocked {what}", file=sys.stderr, flush=True)
    raise PermissionError(f"docs examples may not reach the network: {what}")


def may_start(program: Any) -> bool:
    """Python itself (examples may start workers), or a library-lookup tool."""
    if not isinstance(program, (str, bytes, os.PathLike)):
        return False
    path = os.fsdecode(program)
    name = os.path.basename(path)
    return name.startswith("python") or name in LIBRARY_LOOKUP_TOOLS or os.path.realpath(path) == os.path.realpath(sys.executable)


def audit(event: str, args: Any) -> None:
    if event in ("socket.connect", "socket.sendto"):
        address = args[1] if event == "socket.connect" else args[-1]
        if isinstance(address, tuple) and not is_loopback(address[0]):
            refuse(f"{event} to {address!r}")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        if not is_loopback(args[0]):
            refuse(f"{event} of {args[0]!r}")
    elif event == "subprocess.Popen":
        executable, argv = args[0], args[1]
        if isinstance(argv, (str, bytes)):
            argv = os.fsdecode(argv).split() or [""]
        program = executable if executable is not None else (list(argv) or [""])[0]
        if not may_start(program):
            refuse(f"starting {program!r}")
    elif event in ("os.system", "os.exec", "os.posix_spawn", "os.spawn"):
        program = args[0] if event != "os.spawn" else args[1]
        if event == "os.system" or not may_start(program):
            refuse(f"{event} {program!r}")


def to_collector(url: str) -> str:
    """Any URL but a loopback one (an example's own Collector) goes to the test's
    collector; so does the documented local collector, 127.0.0.1:8088."""
    parts = urlsplit(url)
    if is_loopback(parts.hostname) and (parts.hostname, parts.port) != DOCUMENTED_COLLECTOR:
        return url
    target = urlsplit(COLLECTOR)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


def redirect(module: Any) -> None:
    """Wrap each transport's constructor so the URL it is given points at the collector."""
    for name in ("HttpTransport", "RequestsTransport"):
        cls = getattr(module, name)
        original = cls.__init__

        def init(self: Any, url: str, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            _original(self, to_collector(url), *args, **kwargs)

        cls.__init__ = init


class RedirectTransports(importlib.abc.MetaPathFinder):
    """Patches the SDK's transport module as it is imported (importing it here would
    import the SDK before the example runs, ahead of any gevent monkey-patching)."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Optional[Any]:
        if name != TRANSPORT_MODULE:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            redirect(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def fail_if_blocked() -> None:
    if BLOCKED:
        sys.stderr.flush()
        os._exit(3)


if COLLECTOR:
    sys.addaudithook(audit)
    sys.meta_path.insert(0, RedirectTransports())
    atexit.register(fail_if_blocked)  # registered first, so it runs last
