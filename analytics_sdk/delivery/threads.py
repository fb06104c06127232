"""Starting a consumer's threads: the backlog's own (the spool writer) and the uploaders.

Not at all in a uWSGI master (prefork.py: the caller's thread sends, or a worker
takes the events over). And never under a lock of the blocking kind once gevent
or eventlet patched threading (green.py): the lock is remade first.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from . import prefork

if TYPE_CHECKING:
    from .consumer import Consumer

__all__ = ["Starter", "remake_lock_if_patched"]


def remake_lock_if_patched(owner: Any, alive: bool) -> None:
    """(``owner.lock`` held) gevent or eventlet patched threading since ``owner`` made
    its lock (gunicorn --preload): remake it, and its conditions, of the patched kind
    before a thread starts under it. ``Thread.start()`` switches greenlets while the
    caller holds the lock, and a greenlet that then asks for a lock of the blocking
    kind stops the whole process (green.py). Only while none of its threads lives
    (a fork child has none): one started before the patch waits on the old conditions,
    so the old kind stays (tracking before the patch: see green.py)."""
    if owner.lock_type is not threading.Lock:
        if alive:
            owner.lock_type = threading.Lock
        else:
            owner.make_locks()


class Starter:
    """Starts (and tells about) the threads of one consumer."""

    def __init__(self, consumer: "Consumer") -> None:
        self.consumer = consumer
        self.taken_backlog = False  # this fork child took a uWSGI master's events over

    def take_over(self, events: Any) -> None:
        """(fork child, no other thread yet) Queue a uWSGI master's events here."""
        c = self.consumer
        for item in list(events):
            c.queue.append(item)
            c.progress.enqueued += 1
        self.taken_backlog = True

    def start_taken_backlog(self) -> None:
        """(fork child, every reset done) Start sending the events take_over() queued."""
        c = self.consumer
        with c.lock:
            if self.taken_backlog and not c.threads and not c.closed:
                self.taken_backlog = False
                self.start()

    def start(self) -> bool:
        """(lock held) Start the threads. Returns False, starting none, when gevent or
        eventlet patched threading after the lock was made (gunicorn --preload): the
        caller then calls start_after_monkey_patch() once it released the lock."""
        c = self.consumer
        if c.lock_type is not threading.Lock:
            return False
        if prefork.threads_unsafe():  # (only until the first thread: put() checks threads first)
            c.deferred = True
            prefork.hand_over_backlog()
            return True
        prefork.warn_if_threads_starve()
        workers = [*c.backlog.workers(), *[("analytics_sdk-uploader", c.uploader.run)] * c.thread_count]
        for name, target in workers:
            thread = threading.Thread(target=target, name=name, daemon=True)
            try:
                thread.start()
            except RuntimeError:  # interpreter shutting down: shutdown() drains inline
                break
            c.threads.append(thread)
        return True

    def start_after_monkey_patch(self) -> None:
        """Remake the lock and conditions of the patched kind, then start the threads."""
        c = self.consumer
        with c.lock:
            remake_lock_if_patched(c, self.alive())
        with c.lock:
            if not c.threads:
                self.start()

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self.consumer.threads)
