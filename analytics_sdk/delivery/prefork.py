"""A process that forks behind Python's back must not run threads: uWSGI's master.

uWSGI (without ``--lazy-apps``) imports the application in its master and then
forks the workers in C, with the GIL released and none of CPython's fork
handling (unless ``--py-call-uwsgi-fork-hooks``). A Python thread of the master
that holds the GIL at that moment holds it in the child for ever: the worker
never answers a request (seen here in 4 of 15 starts of a master whose uploader
was sending what the application tracked at import). Workers are forked again later too (respawns,
``max-requests``), so the master must never run a thread of ours at all.

So there, events wait in the queue without an uploader, and the first process
forked from the master that uses the SDK takes them over: a pipe holds one byte,
and whoever reads it (a worker, or the master itself at exit if no worker took
them) sends the master's backlog; everyone else drops its copy, unsent. Exactly
one process sends each event, however many workers are forked or respawned.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Optional

from ..process import check as check_fork
from ..process import on_fork_child

__all__ = ["threads_unsafe", "hand_over_backlog", "took_backlog", "warn_if_threads_starve"]

log = logging.getLogger("analytics_sdk")

_SAFE_OPTIONS = ("lazy-apps", "lazy", "py-call-uwsgi-fork-hooks")


def _option_on(value: Any) -> bool:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


def threads_unsafe() -> bool:
    """Whether this process is a uWSGI master that will fork workers in C.

    Only a master (``--master``): without one, the process that loads the app
    becomes worker 1 itself, unforked, and a backlog handed over there could be
    sent twice (documented: use ``--master``). Mules and spoolers report worker id
    0 too; they fork nothing."""
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is None:
        return False
    try:
        options = getattr(uwsgi, "opt", {}) or {}
        if not _option_on(options.get("master")) or _forked_by_uwsgi(uwsgi):
            return False
        return not any(_option_on(options.get(name)) for name in _SAFE_OPTIONS)
    except Exception:  # noqa: BLE001 - an unfamiliar uwsgi module: assume the worst
        return True


def _forked_by_uwsgi(uwsgi: Any) -> bool:
    """A worker, a mule or a spooler: a process uWSGI's master forked."""
    spooler = getattr(uwsgi, "i_am_the_spooler", None)
    mule = getattr(uwsgi, "mule_id", None)
    return bool(
        uwsgi.worker_id() != 0 or (mule is not None and mule() != 0) or (spooler is not None and spooler())
    )


_warned = False


def warn_if_threads_starve() -> None:
    """Once per process: a uWSGI with Python threads off (before 2.0.22, without
    ``--enable-threads``) holds the GIL between requests, so the uploader runs
    only while a request is served; what is queued waits for the next request or
    the worker's exit (measured: 200 of 301 events sent while idle, all at exit)."""
    global _warned
    uwsgi = sys.modules.get("uwsgi")
    if _warned or uwsgi is None or getattr(uwsgi, "has_threads", True):
        return
    _warned = True
    log.warning(
        "analytics_sdk: uWSGI runs with Python threads disabled: events are sent only while requests "
        "are served, and the rest at the worker's exit. Add --enable-threads."
    )


_token_fd: Optional[int] = None  # read end of the pipe holding the backlog's one byte
_master_pid: Optional[int] = None
_took: Optional[bool] = None  # whether this process took the backlog (asked once per process)


def hand_over_backlog() -> None:
    """(in the master) Arm the hand-over once: the byte, and a post-fork hook so a
    worker notices the fork (and takes the backlog) before its first request."""
    global _token_fd, _took, _master_pid
    if _token_fd is not None:
        return
    _master_pid = os.getpid()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"1")
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    _token_fd, _took = read_fd, None
    _chain_post_fork_hook()


def took_backlog() -> bool:
    """Whether this process sends the master's backlog (True for exactly one process:
    one that uWSGI forked, or the master itself; never another fork of the master's,
    such as a ``subprocess`` child running ``preexec_fn``, which would exec or exit)."""
    global _took
    if _token_fd is None:
        return False
    if _took is None:
        uwsgi = sys.modules.get("uwsgi")
        master = os.getpid() == _master_pid
        try:
            if not master and (uwsgi is None or not _forked_by_uwsgi(uwsgi)):
                return False  # (asked again: the answer may change once uWSGI says what we are)
        except Exception:  # noqa: BLE001
            return False
        try:
            _took = os.read(_token_fd, 1) == b"1"
        except OSError:  # empty (EAGAIN): taken by another process
            _took = False
    return _took


def _after_fork_in_child() -> None:
    global _took
    _took = None  # the parent's answer is not the child's: took_backlog() asks again


on_fork_child(_after_fork_in_child)


def _chain_post_fork_hook() -> None:
    """uWSGI calls ``uwsgi.post_fork_hook`` in each worker after forking it."""
    uwsgi = sys.modules.get("uwsgi")
    if uwsgi is None:
        return
    decorators = sys.modules.get("uwsgidecorators")  # (never imported here: that replaces the hook)
    if decorators is not None and getattr(uwsgi, "post_fork_hook", None) is getattr(decorators, "postfork_chain_hook", 0):
        decorators.postfork_chain.append(check_fork)
        return
    previous = getattr(uwsgi, "post_fork_hook", None)

    def post_fork_hook() -> None:
        check_fork()
        if previous is not None:
            previous()

    setattr(uwsgi, "post_fork_hook", post_fork_hook)  # (an attribute uWSGI reads; not declared)
