"""The six Segment calls (identify, track, page, screen, group, alias) with
segment-analytics-python's signatures: each builds its message (``messages``) and
hands it to ``_enqueue``, which the class using this mixin provides (``Client``)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from . import messages, payload_builders
from .delivery.callbacks import OutcomeCallback

__all__ = ["SegmentCalls", "Result"]

Result = Tuple[bool, Dict[str, Any]]


class SegmentCalls:
    """identify/track/page/screen/group/alias over ``self._enqueue(message, callback)``."""

    def _enqueue(self, msg: Dict[str, Any], callback: Optional[OutcomeCallback] = None) -> Result:
        raise NotImplementedError

    def identify(
        self,
        user_id: Optional[messages.Id] = None,
        traits: Optional[payload_builders.Payload] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Tie a user to their traits (a dict, or an ``analytics_sdk.Identify``). Returns ``(queued, message)``."""
        if isinstance(traits, payload_builders.Builder):
            traits, integrations = payload_builders.lift("identify", traits, integrations)
        return self._enqueue(
            messages.build_identify(user_id, traits, context, timestamp, anonymous_id, integrations, message_id),
            callback,
        )

    def track(
        self,
        user_id: Optional[messages.Id] = None,
        event: Optional[str] = None,
        properties: Optional[payload_builders.Payload] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Record that a user did something (properties: a dict, or an ``analytics_sdk.Revenue``).
        Returns ``(queued, message)``."""
        if isinstance(properties, payload_builders.Builder):
            properties, integrations = payload_builders.lift("track", properties, integrations)
        return self._enqueue(
            messages.build_track(
                user_id, event, properties, context, timestamp, anonymous_id, integrations, message_id
            ),
            callback,
        )

    def page(
        self,
        user_id: Optional[messages.Id] = None,
        category: Optional[str] = None,
        name: Optional[str] = None,
        properties: Optional[Dict[str, Any]] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Record a page view. Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_page(
                user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id
            ),
            callback,
        )

    def screen(
        self,
        user_id: Optional[messages.Id] = None,
        category: Optional[str] = None,
        name: Optional[str] = None,
        properties: Optional[Dict[str, Any]] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Record a mobile screen view. Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_screen(
                user_id, category, name, properties, context, timestamp, anonymous_id, integrations, message_id
            ),
            callback,
        )

    def group(
        self,
        user_id: Optional[messages.Id] = None,
        group_id: Optional[messages.Id] = None,
        traits: Optional[payload_builders.Payload] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        anonymous_id: Optional[messages.Id] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Associate a user with a group (company, team...); traits: a dict or an
        ``analytics_sdk.Identify``. Returns ``(queued, message)``."""
        if isinstance(traits, payload_builders.Builder):
            traits, integrations = payload_builders.lift("group", traits, integrations)
        return self._enqueue(
            messages.build_group(
                user_id, group_id, traits, context, timestamp, anonymous_id, integrations, message_id
            ),
            callback,
        )

    def alias(
        self,
        previous_id: Optional[messages.Id] = None,
        user_id: Optional[messages.Id] = None,
        context: Optional[Dict[str, Any]] = None,
        timestamp: Optional[messages.Timestamp] = None,
        integrations: Optional[Dict[str, Any]] = None,
        message_id: Optional[str] = None,
        *,
        callback: Optional[OutcomeCallback] = None,
    ) -> Result:
        """Merge two identities (``previous_id`` becomes ``user_id``). Returns ``(queued, message)``."""
        return self._enqueue(
            messages.build_alias(previous_id, user_id, context, timestamp, integrations, message_id),
            callback,
        )
