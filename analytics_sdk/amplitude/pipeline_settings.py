"""What an Amplitude client's pipeline takes from a ``Config``, checked.

A bad number gives the default (and a problem to log); an unusable endpoint gives
``problem``, the reason every event is refused until the Config is fixed.
"""

from __future__ import annotations

import dataclasses
from typing import Any, List, Optional, Tuple

from . import constants
from .config import Config

__all__ = ["PipelineSettings", "read_settings"]


@dataclasses.dataclass(frozen=True)
class PipelineSettings:
    """What the pipeline takes from a Config, checked (a bad number: the default, logged)."""

    api_key: Any
    url: str
    use_batch: bool
    min_id_length: Optional[int]
    upload_size: int
    upload_interval: float
    max_retries: int
    retry_base_interval: float
    retry_throttled_interval: float
    connection_timeout: float
    max_queue_size: int
    flush_timeout: Optional[float]
    problem: Optional[str]  # why nothing can be sent (no usable endpoint), or None


def _number(config: Config, name: str, default: Any, kind: type, minimum: float, problems: List[str]) -> Any:
    value = getattr(config, name, default)
    ok = isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool) and value >= minimum
    if ok:
        return kind(value)
    problems.append(f"Config.{name} must be {'a number' if kind is float else 'an integer'} >= {minimum}, "
                    f"got {value!r}: {default!r} is used")
    return default


def read_settings(config: Config) -> Tuple[PipelineSettings, List[str]]:
    """The pipeline's settings from ``config``, and what is wrong with it (to log)."""
    problems: List[str] = []
    try:
        url = config.server_url
    except Exception:  # noqa: BLE001 - a server_zone of an odd type
        url = ""
    problem = None
    if not url:
        problem = f"Config.server_zone {config.server_zone!r} is neither 'US' nor 'EU': events cannot be sent"
    elif not isinstance(url, str) or not url.startswith(("http://", "https://")):
        problem = f"Config.server_url {url!r} is not an http:// or https:// URL: events cannot be sent"
    if problem:
        problems.append(problem)
        url = ""
    if not isinstance(config.api_key, str) or not config.api_key:
        problems.append("Config.api_key is not set: Amplitude will refuse the events")
    options = config.options
    min_id_length = options["min_id_length"] if options and not isinstance(options["min_id_length"], bool) else None
    if config.min_id_length is not None and min_id_length is None:
        problems.append(f"Config.min_id_length must be a positive integer, got {config.min_id_length!r}: not sent")
    flush_timeout = config.flush_timeout
    if flush_timeout is not None and (not isinstance(flush_timeout, (int, float)) or flush_timeout < 0):
        problems.append(f"Config.flush_timeout must be None or a number of seconds >= 0, got {flush_timeout!r}")
        flush_timeout = None
    api_key = config.api_key
    if api_key is not None and not isinstance(api_key, str):
        api_key = str(api_key)  # (the reference's worker fails on a key JSON cannot hold)
    settings = PipelineSettings(
        api_key=api_key,
        url=url,
        use_batch=bool(config.use_batch),
        min_id_length=min_id_length,
        upload_size=_number(config, "flush_queue_size", constants.FLUSH_QUEUE_SIZE, int, 1, problems),
        upload_interval=_number(config, "flush_interval_millis", constants.FLUSH_INTERVAL_MILLIS, float, 1,
                                problems) / 1000.0,
        max_retries=_number(config, "flush_max_retries", constants.FLUSH_MAX_RETRIES, int, 0, problems),
        retry_base_interval=_number(config, "retry_base_interval", 0.1, float, 0, problems),
        retry_throttled_interval=_number(config, "retry_throttled_interval", 30.0, float, 0, problems),
        connection_timeout=_number(config, "connection_timeout", constants.CONNECTION_TIMEOUT, float, 0.001,
                                   problems),
        max_queue_size=_number(config, "max_storage_capacity", constants.MAX_BUFFER_CAPACITY, int, 1, problems),
        flush_timeout=float(flush_timeout) if flush_timeout is not None else None,
        problem=problem,
    )
    return settings, problems
