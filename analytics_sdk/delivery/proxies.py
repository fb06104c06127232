"""Which proxy a request goes through: exactly as requests decides it.

``proxies`` is read as ``requests.post(url, proxies=...)`` reads it: per-host keys
(``"https://collector.internal"``, ``"all://collector.internal"``) before per-scheme
ones (``"https"``) before ``"all"``; the environment (``HTTP_PROXY``, ``HTTPS_PROXY``,
``ALL_PROXY``, ``NO_PROXY``) fills in what the dict does not say, unless ``NO_PROXY`` (or
a ``"no_proxy"`` key) exempts the host; a key set to None removes that entry, the
environment's too. requests' own helpers do the reading, so the two cannot drift apart.
The environment is read once, when the transport is made.
"""

from __future__ import annotations

from typing import Dict, Mapping, Optional
from urllib.request import getproxies

__all__ = ["proxies_for"]


def proxies_for(url: str, proxies: Optional[Mapping[str, Optional[str]]]) -> Optional[Dict[str, str]]:
    """The proxy settings requests would use for ``url`` (the given ones merged with the
    environment's), or None when no proxy applies to ``url``: then it goes direct."""
    if not proxies and not getproxies():
        return None  # the usual case, without importing requests (green.py: urllib3 binds ssl at import)
    from requests.utils import get_environ_proxies, select_proxy

    merged: Dict[str, Optional[str]] = dict(proxies or {})
    for key, value in get_environ_proxies(url, no_proxy=merged.get("no_proxy")).items():
        merged.setdefault(key, value)
    settings = {key: value for key, value in merged.items() if value is not None}
    return settings if select_proxy(url, settings) else None
