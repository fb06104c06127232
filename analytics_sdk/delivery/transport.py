"""One HTTP attempt: ``POST`` a body to a destination's URL with its headers; gzip, timeout, proxies, TLS.

A transport never raises for network trouble: it returns an :class:`Attempt`
with ``status=None`` and the error's class name, and the retry policy decides.
It is a replaceable object (anything with ``send``, ``reset``, ``close`` and a
``timeout`` attribute), so other sinks and users' test doubles slot in without
touching the consumer.

Two implementations, chosen by :func:`make_transport`:

* :class:`HttpTransport` (direct connections, the usual case): a minimal
  HTTP/1.1 client (``http11.py``) with one keep-alive connection per uploader
  thread, the request head built once (docs/architecture/hot-path.md, "The HTTP
  client", has the figures against ``http.client`` and ``requests``).
* :class:`RequestsTransport` (when a proxy applies to the URL, from ``proxies=`` or
  the environment, read as requests reads them: ``proxies.py``): a
  ``requests.Session``, for its proxy support.
"""

from __future__ import annotations

import gzip as gzip_module
import logging
import os
import socket
import ssl
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Set, Tuple, Union
from urllib.parse import urlsplit

from certifi import where as default_ca_bundle  # the CA bundle requests uses (a requests dependency)

from ..wire.base import USER_AGENT
from . import doubt
from .http11 import Buffer, Connection, ProtocolError, request_head
from .proxies import proxies_for

if TYPE_CHECKING:
    import requests

# requests is imported only when a proxy applies: imported with the SDK, urllib3
# would bind ``ssl.SSLContext`` before gevent or eventlet can patch it (green.py).

__all__ = ["Attempt", "HttpTransport", "RequestsTransport", "make_transport", "USER_AGENT"]

log = logging.getLogger("analytics_sdk")

# Reopen a keep-alive connection idle for longer than this: servers and load
# balancers close idle connections (nginx after 75 s, some after 5 s), and a send
# on a closed one would cost a failed attempt and a backoff.
_MAX_IDLE_SECONDS = 4.0


@dataclass(frozen=True)
class Attempt:
    """The result of one request: a status (and the body, for destinations that read it),
    or None and why there was none."""

    status: Optional[int]
    retry_after: Optional[str] = None
    error: str = ""
    body: bytes = b""
    resent: int = 0  # requests repeated at once on a fresh connection (a stale keep-alive socket)


def _error_name(exc: BaseException) -> str:
    """The class name an Attempt reports. Python 3.9's ``socket.timeout`` is a class of
    its own (named "timeout"); from 3.10 it is ``TimeoutError``: one name on every version."""
    return "TimeoutError" if type(exc) is socket.timeout else type(exc).__name__


def resolve_verify(verify: Any) -> Any:
    """requests' meaning of ``verify``, with its CA-bundle environment variables."""
    if verify is True:
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return verify


def make_transport(
    url: str,
    headers: Dict[str, str],
    gzip: bool = False,
    timeout: float = 15,
    proxies: Optional[Dict[str, str]] = None,
    verify: Any = True,
) -> Union["HttpTransport", "RequestsTransport"]:
    """The transport for these settings: requests when a proxy applies, else our HTTP/1.1 client."""
    applied = proxies_for(url, proxies)  # the environment is read once, here, not per request
    if applied:
        return RequestsTransport(url, headers, gzip, timeout, applied, verify)
    return HttpTransport(url, headers, gzip, timeout, verify)


class _Transport:
    """What both transports share: where to, with which headers, and how."""

    proxies: Optional[Dict[str, str]] = None

    def __init__(self, url: str, headers: Dict[str, str], gzip: bool, timeout: float, verify: Any) -> None:
        self.url = url
        self.gzip = gzip
        self.timeout = timeout
        self.verify = resolve_verify(verify)
        self._headers = headers

    def __repr__(self) -> str:  # never show the Authorization header
        return f"{type(self).__name__}(url={self.url!r}, gzip={self.gzip})"


class HttpTransport(_Transport):
    """Direct HTTP(S) with the minimal HTTP/1.1 client: one keep-alive connection per thread."""

    def __init__(
        self,
        url: str,
        headers: Dict[str, str],
        gzip: bool = False,
        timeout: float = 15,
        verify: Any = True,
    ) -> None:
        super().__init__(url, headers, gzip, timeout, verify)
        parts = urlsplit(self.url)
        self._scheme = parts.scheme
        self._netloc = parts.hostname or ""
        self._port = parts.port
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._ssl_context: Optional[ssl.SSLContext] = None
        self._tls_error = ""
        if self._scheme == "https":
            self._load_ssl_context()
            if self._tls_error:
                # An environment problem (REQUESTS_CA_BUNDLE naming a missing file):
                # never raised from the lazily created client inside track(); every
                # attempt fails and the messages are reported through on_error.
                log.error("analytics_sdk: %s; nothing can be delivered until it is fixed", self._tls_error)
        host_header = parts.netloc.rpartition("@")[2]  # keeps [::1] brackets and a non-default port
        self._head = request_head(host_header, self._path or "/", headers)
        self._default_port = 443 if self._scheme == "https" else 80
        self._local = threading.local()  # (remade if gevent/eventlet patch threading later: _connection)
        # Every thread's connection, so close() and reset() can close them all: an
        # uploader's socket otherwise outlives its thread and is closed by the garbage
        # collector, a ResourceWarning each (python -X dev), in a fork child too.
        self._conns: List[Tuple[threading.Thread, Connection]] = []
        self._conns_lock = threading.Lock()
        # A transport dropped without close() (a client dropped without shutdown(), the
        # mParticle drop-in, which has no close) closes its sockets, as urllib3's pools
        # do. No thread can be sending then: each holds the transport while it sends.
        # Not at exit (atexit): the exit delivery may still be using them.
        weakref.finalize(self, _close_all, self._conns).atexit = False

    def _make_ssl_context(self) -> ssl.SSLContext:
        if self.verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        bundle = self.verify if isinstance(self.verify, str) else default_ca_bundle()
        if os.path.isdir(bundle):
            return ssl.create_default_context(capath=bundle)
        return ssl.create_default_context(cafile=bundle)

    def _load_ssl_context(self) -> None:
        try:
            self._ssl_context = self._make_ssl_context()
            self._tls_error = ""
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._tls_error = f"cannot load the CA bundle {self.verify!r} ({type(exc).__name__}: {exc})"

    def _connection(self) -> Connection:
        local = self._local
        if type(local) is not threading.local:
            local = self._after_monkey_patch()
        conn: Optional[Connection] = getattr(local, "conn", None)
        now = time.monotonic()
        if conn is not None and now - getattr(local, "last_used", now) > _MAX_IDLE_SECONDS:
            conn.close()
        if conn is None:
            conn = Connection(self._netloc, self._port or self._default_port, self._head, self._ssl_context)
            local.conn = conn
            self._register(conn)
        local.last_used = now
        return conn

    def _after_monkey_patch(self) -> Any:
        """gevent or eventlet patched threading since this transport was made (gunicorn
        --preload): a blocking-kind local is one connection for every greenlet, so
        each uploader gets its own again (green.py)."""
        stale, self._local = self._local, threading.local()
        conn = getattr(stale, "conn", None)  # the one this thread made before the patch, if any
        if conn is not None:
            conn.close()
        return self._local

    def _register(self, conn: Connection) -> None:
        """(once per thread) Keep ``conn`` for close(); close those of threads that ended
        (a thread per request in sync_mode must not pile them up)."""
        with self._conns_lock:
            ended = [c for thread, c in self._conns if not thread.is_alive()]
            self._conns[:] = [(t, c) for t, c in self._conns if t.is_alive()]  # in place: the finalizer holds the list
            self._conns.append((threading.current_thread(), conn))
        for old in ended:
            old.close()

    def reset(self) -> None:
        """(in a fork child) Close the parent's connections here, and start afresh.

        Closing a descriptor in the child leaves the parent's connection open (no
        shutdown() is sent), and nothing of it is used here again."""
        conns = list(self._conns)  # the child has one thread: no lock (a parent's thread may hold it)
        self._conns.clear()
        self._conns_lock = threading.Lock()
        self._local = threading.local()
        for _, conn in conns:
            conn.close()

    def close(self) -> None:
        """Close the keep-alive connections (at shutdown, once the uploaders ended); a
        later send opens a new one. One that another live thread may be using right
        now (an uploader stuck past the shutdown deadline) is left to that thread."""
        me = threading.current_thread()
        with self._conns_lock:
            conns = [conn for thread, conn in self._conns if thread is me or not thread.is_alive()]
        for conn in conns:
            conn.close()

    def send(self, body: bytes, timeout: Optional[float] = None) -> Attempt:
        return self.send_parts([body], timeout)

    def send_parts(self, parts: Sequence[Buffer], timeout: Optional[float] = None) -> Attempt:
        """:meth:`send` of a body given in pieces, which go out without being joined
        (unless gzipped): the consumer's request bodies, straight from the queue."""
        context = self._ssl_context
        if context is not None and not isinstance(context, ssl.SSLContext):
            # Made before gevent/eventlet patched ssl (green.py): its sockets would block
            # every greenlet. (Connections made before the patch go with the stale local.)
            self._load_ssl_context()
        if self._tls_error:
            self._load_ssl_context()  # the file may have appeared since
            if self._tls_error:
                return Attempt(None, error=self._tls_error)
        if self.gzip:
            parts = [gzip_module.compress(b"".join(parts), compresslevel=6)]
        conn = self._connection()
        if conn.busy:  # a signal handler over this thread's own request: one connection for this one
            conn = Connection(self._netloc, self._port or self._default_port, self._head, self._ssl_context)
            try:
                return self._post(conn, parts, timeout)
            finally:
                conn.close()
        conn.busy = True
        try:
            return self._post(conn, parts, timeout)
        finally:
            conn.busy = False

    def _post(self, conn: Connection, parts: Sequence[Buffer], timeout: Optional[float]) -> Attempt:
        limit = self.timeout if timeout is None else timeout
        resent = 0
        while True:
            reused = conn.used
            try:
                response = conn.post(parts, limit, on_sent=doubt.body_sent)
                break
            except (ConnectionError, ProtocolError) as exc:
                conn.close()
                if not reused or resent:
                    return Attempt(None, error=_error_name(exc), resent=resent)
                # A keep-alive socket the server closed while idle: one fresh try at once,
                # rather than a failed attempt and a backoff (the messageIds make it safe).
                resent = 1
            except Exception as exc:  # noqa: BLE001 - network trouble is a verdict, never a crash
                conn.close()
                return Attempt(None, error=_error_name(exc), resent=resent)
        self._local.last_used = time.monotonic()
        doubt.answered()
        return Attempt(response.status, response.retry_after, body=response.body, resent=resent)


def _close_all(conns: List[Tuple[threading.Thread, Connection]]) -> None:
    for _, conn in list(conns):
        conn.close()


class RequestsTransport(_Transport):
    """HTTP(S) through a ``requests.Session``; used when a proxy applies."""

    def __init__(
        self,
        url: str,
        headers: Dict[str, str],
        gzip: bool = False,
        timeout: float = 15,
        proxies: Optional[Dict[str, str]] = None,
        verify: Any = True,
    ) -> None:
        super().__init__(url, headers, gzip, timeout, verify)
        self.proxies = proxies
        self._session: Optional[requests.Session] = None
        self._busy: Set[int] = set()  # threads with a request under way (a signal handler takes its own session)

    def reset(self) -> None:
        """(in a fork child) Close the parent's pooled sockets here (its own stay open), and start afresh."""
        self._busy = set()  # (the parent's threads: a child thread may get the same ident)
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.close()

    def send(self, body: bytes, timeout: Optional[float] = None) -> Attempt:
        me = threading.get_ident()
        if me in self._busy:  # a signal handler over this thread's own request: urllib3's pool would wait for it
            session = _new_session()
            try:
                return self._post(session, body, timeout)
            finally:
                session.close()
        self._busy.add(me)
        try:
            shared = self._session
            if shared is None:
                shared = self._session = _new_session()
            return self._post(shared, body, timeout)
        finally:
            self._busy.discard(me)

    def _post(self, session: "requests.Session", body: bytes, timeout: Optional[float]) -> Attempt:
        data = gzip_module.compress(body, compresslevel=6) if self.gzip else body
        try:
            response = session.post(
                self.url,
                data=data,
                headers=self._headers,
                timeout=self.timeout if timeout is None else timeout,
                proxies=self.proxies,
                verify=self.verify,
                # Like HttpTransport, follow no redirect: requests would turn a 301-303
                # into a body-less GET (its 200 counted as delivered) and send a 307/308
                # body to whatever host the Location names. A 3xx is reported instead.
                allow_redirects=False,
            )
        except Exception as exc:  # noqa: BLE001 - network trouble is a verdict, never a crash
            from requests.exceptions import ReadTimeout

            if isinstance(exc, ReadTimeout):  # connected and sent; no answer in time
                doubt.body_sent()
            return Attempt(None, error=_error_name(exc))
        doubt.answered()
        try:
            return Attempt(response.status_code, response.headers.get("Retry-After"), body=response.content)
        finally:
            response.close()


def _new_session() -> "requests.Session":
    import requests

    session = requests.Session()
    # Proxies and CA bundle were read from the environment once, at construction;
    # requests would otherwise re-read them per request.
    session.trust_env = False
    return session
