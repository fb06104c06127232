"""gevent and eventlet: what monkey-patching replaces, and objects made before it.

``gevent.monkey.patch_all()`` and ``eventlet.monkey_patch()`` replace blocking
primitives inside their modules (``select.poll``, ``socket.socket``, ``ssl.SSLContext``,
``time.sleep``, ``threading.Lock``, ``threading.local``...), so that a wait lets
other greenlets run. A name bound before the patch keeps the blocking original:
an ``_poll = select.poll`` made at import blocks every greenlet of the process
while the collector is slow. ``gunicorn -k gevent --preload`` does exactly that:
the master imports the application (and the SDK, and maybe creates its client),
then forks workers that patch.

So the network path looks every patched name up where it uses it (the uploader's
side: a dictionary lookup beside a system call), and the few objects made before a
patch are remade the first time they are used after it:

* locks and conditions (consumer, plugin worker, the default client's lock): a
  blocking lock held by one greenlet while it switches (``Thread.start()`` waits
  for the new thread) stops the whole process the moment another greenlet asks
  for it. Each records the ``threading.Lock`` it was made with and is remade when
  that changed, at a moment no other greenlet can hold it;
* ``threading.local`` objects (one keep-alive connection per uploader, the
  user-code marker): a blocking-kind local is shared by every greenlet;
* TLS contexts: a context made before the patch wraps sockets in the blocking
  ``ssl.SSLSocket``.

Not patched by either, so bound once for speed: ``time.monotonic``, ``time.time``.
"""

from __future__ import annotations

import _thread
import sys
from typing import Any, Callable

__all__ = ["green_threads", "start_os_thread", "os_lock"]


def green_threads() -> bool:
    """Whether gevent or eventlet turned this process's threads into greenlets."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return True
    patcher = sys.modules.get("eventlet.patcher")
    return patcher is not None and bool(patcher.is_monkey_patched("thread"))


def _original_thread(name: str) -> Any:
    """``_thread.<name>`` as it was before gevent or eventlet patched it."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("_thread"):
        return monkey.get_original("_thread", name)
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        return getattr(patcher.original("_thread"), name)
    return getattr(_thread, name)


def start_os_thread(target: Callable[..., Any], *args: Any) -> None:
    """Run ``target(*args)`` on a real thread of the operating system, even once gevent or
    eventlet patched threading: for a call into C that may never return (spool.py's open
    after fork), which in a greenlet would stop every greenlet of the process. The
    thread must touch nothing green. RuntimeError when no thread can start (a limit on
    threads, or an interpreter shutting down)."""
    _original_thread("start_new_thread")(target, args)


def os_lock() -> Any:
    """A lock of the blocking kind, even once gevent or eventlet patched threading: for
    a real thread of start_os_thread() to hold (a greenlet must never wait on it long)."""
    return _original_thread("allocate_lock")()
