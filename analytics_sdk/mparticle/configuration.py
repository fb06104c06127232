"""``mparticle.Configuration``: the reference's settings, plus delivery settings of ours."""

from __future__ import annotations

import base64
import logging
import sys
from typing import Any, Callable, Dict, Optional

__all__ = ["Configuration", "DEFAULT_HOST"]

DEFAULT_HOST = "https://s2s.mparticle.com/v2"


class Configuration:
    """Settings of an :class:`~analytics_sdk.mparticle.EventsApi`.

    The reference's: ``host``, ``api_key``, ``api_secret``, ``debug``,
    ``verify_ssl``, ``ssl_ca_cert``, ``cert_file``, ``key_file``,
    ``connection_pool_size``, ``api_client``, ``logger_file``, ``logger_format``
    (``logger`` holds our package logger, ``analytics_sdk``). Ours (docs/migrating/mparticle.md): ``timeout`` per request, ``max_retries`` and
    ``max_total_backoff_duration`` for uploads that wait for their answer
    (``Retry-After`` honoured up to ``max_retry_after`` seconds),
    ``add_source_request_id`` (a UUID per batch, so a resend is deduplicated),
    ``proxies``, and the background mode: ``background``, ``max_queue_size``,
    ``upload_interval``, ``exit_timeout``, ``callback`` (every outcome, as
    ``callback(batch, code, message)``) and ``on_error``.
    """

    def __init__(self) -> None:
        self.host = DEFAULT_HOST
        self.api_client: Any = None
        self.api_key = ""
        self.api_secret = ""
        self.verify_ssl = True
        self.ssl_ca_cert: Optional[str] = None
        self.cert_file: Optional[str] = None
        self.key_file: Optional[str] = None
        self.connection_pool_size = 1
        self.temp_folder_path: Optional[str] = None
        self.api_key_store: Dict[str, str] = {}
        self.api_key_prefix: Dict[str, str] = {}
        self.logger = {"package_logger": logging.getLogger("analytics_sdk")}
        self.logger_stream_handler: Optional[logging.Handler] = None  # the reference's name; we add none
        self.logger_file_handler: Optional[logging.FileHandler] = None
        self._logger_file: Optional[str] = None
        self.logger_format = "%(asctime)s %(levelname)s %(message)s"
        self._debug = False
        # ours
        self.timeout = 10.0
        self.max_retries = 3
        self.max_total_backoff_duration = 30.0
        self.max_retry_after = 60.0
        self.add_source_request_id = True
        self.proxies: Optional[Dict[str, str]] = None
        self.background = False
        self.max_queue_size = 10000
        self.upload_interval = 0.5
        self.exit_timeout = 5.0
        self.callback: Optional[Callable[[Dict[str, Any], int, str], Any]] = None
        self.on_error: Optional[Callable[..., Any]] = None

    @property
    def debug(self) -> bool:
        return self._debug

    @debug.setter
    def debug(self, value: bool) -> None:
        # Our logger only: the reference also turns on http.client's stdout dump process-wide.
        from ..logs import configure_logging

        self._debug = bool(value)
        if self._debug:
            configure_logging(True, None)

    @property
    def logger_format(self) -> str:
        return self._logger_format

    @logger_format.setter
    def logger_format(self, value: str) -> None:
        self._logger_format = value
        self.logger_formatter = logging.Formatter(value)

    @property
    def logger_file(self) -> Optional[str]:
        return self._logger_file

    @logger_file.setter
    def logger_file(self, value: Optional[str]) -> None:
        """A path: our logs also go to that file (in ``logger_format``); None stops that.
        Unlike the reference, None adds no stderr handler (nor does a new Configuration)."""
        old = self.logger_file_handler
        if old is not None:
            for logger in self.logger.values():
                logger.removeHandler(old)
            old.close()
            self.logger_file_handler = None
        self._logger_file = value
        if value:
            handler = logging.FileHandler(value)
            handler.setFormatter(self.logger_formatter)
            for logger in self.logger.values():
                logger.addHandler(handler)
            self.logger_file_handler = handler

    def get_api_key_with_prefix(self, identifier: str) -> Optional[str]:
        key = self.api_key_store.get(identifier)
        if key and self.api_key_prefix.get(identifier):
            return f"{self.api_key_prefix[identifier]} {key}"
        return key or None

    def to_debug_report(self) -> str:
        from ..version import VERSION

        return (f"Python SDK Debug Report:\nOS: {sys.platform}\nPython Version: {sys.version}\n"
                f"Version of the API: 0.9.1\nSDK Package Version: analytics_sdk {VERSION}")

    @property
    def verify(self) -> Any:
        """TLS verification as requests means it (a CA bundle path, True or False)."""
        if not self.verify_ssl:
            return False
        return self.ssl_ca_cert or True

    def get_basic_auth_token(self) -> str:
        token = base64.b64encode(f"{self.api_key}:{self.api_secret}".encode("utf-8")).decode("ascii")
        return f"Basic {token}"

    def auth_settings(self) -> Dict[str, Dict[str, str]]:
        return {"basic": {"type": "basic", "in": "header", "key": "Authorization", "value": self.get_basic_auth_token()}}

    def __repr__(self) -> str:  # no credentials
        return f"<analytics_sdk.mparticle.Configuration host={self.host!r} background={self.background}>"
