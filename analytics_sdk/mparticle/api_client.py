"""``ApiClient``, where the reference has it (``mparticle.api_client``).

The reference's generated HTTP layer (``call_api``, ``request``, ``deserialize``)
is not reproduced: uploads go through :class:`~analytics_sdk.mparticle.EventsApi`
and our transport. What code touches is kept: headers, ``user_agent``,
``configuration``, ``last_response`` and the two static helpers.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from ..delivery.transport import USER_AGENT
from .configuration import Configuration
from .models.base import to_wire, validate_attribute_bag_values

__all__ = ["ApiClient"]


class ApiClient:
    """The reference's request helper, kept for code that touches it."""

    sanitize_for_serialization = staticmethod(to_wire)
    validate_attribute_bag_values = staticmethod(validate_attribute_bag_values)

    def __init__(
        self, host: Optional[str] = None, header_name: Optional[str] = None, header_value: Optional[str] = None,
        cookie: Optional[str] = None, configuration: Optional[Configuration] = None,
    ) -> None:
        self.configuration = self.config = configuration or Configuration()
        self._host = host
        self.cookie = cookie
        self.default_headers: Dict[str, str] = {"User-Agent": USER_AGENT}
        if header_name is not None:
            self.default_headers[header_name] = str(header_value)
        self.last_response: Any = None  # the last upload attempt's answer

    @property
    def host(self) -> str:
        """Where uploads go: the host given here (or assigned), else ``configuration.host``
        as it is at each call (the reference copies it once, at construction)."""
        return self._host or self.config.host

    @host.setter
    def host(self, value: Optional[str]) -> None:
        self._host = value

    @property
    def user_agent(self) -> str:
        return self.default_headers["User-Agent"]

    @user_agent.setter
    def user_agent(self, value: str) -> None:
        self.default_headers["User-Agent"] = value

    def set_default_header(self, header_name: str, header_value: str) -> None:
        self.default_headers[header_name] = header_value
