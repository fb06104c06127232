"""``DeviceInformation``, where the reference has it (``mparticle.models.device_information``)."""

from __future__ import annotations

import uuid
from typing import Any, Optional

from .base import Model, fields, one_of, uuid_text

__all__ = ["DeviceInformation"]

# The advertising ids mParticle takes only as UUIDs.
_UUIDS = ("ios_advertising_id", "ios_idfv", "android_advertising_id", "roku_advertising_id", "fire_advertising_id")


class DeviceInformation(Model):
    """The device a batch comes from (platform, OS, advertising ids ...)."""

    _fields = fields(
        "brand product device android_uuid device_manufacturer platform os_version device_model screen_height "
        "screen_width screen_dpi device_country locale_language locale_country network_country network_carrier "
        "network_code network_mobile_country_code timezone_offset build_identifier http_header_user_agent "
        "ios_advertising_id push_token cpu_architecture is_tablet push_notification_sound_enabled "
        "push_notification_vibrate_enabled radio_access_technology supports_telephony has_nfc bluetooth_enabled "
        "bluetooth_version att_timestamp_unixtime_ms att_authorization_status ios_idfv android_advertising_id "
        "amp_id roku_advertising_id roku_publisher_id microsoft_advertising_id microsoft_publisher_id "
        "fire_advertising_id"
    )
    _checks = {
        "platform": one_of(
            "Unknown", "iOS", "Android", "web", "tvOS", "roku", "out_of_band", "alexa", "smart_tv", "fire_tv", "xbox"
        ),
        "att_authorization_status": one_of("authorized", "denied", "not_determined", "restricted"),
        **{name: uuid_text for name in _UUIDS},
    }

    def validateUUID(self, uuid_string: Any) -> Optional[Exception]:  # noqa: N802 - the reference's name
        """The reference's helper: None when ``uuid_string`` is None or a UUID, else the error."""
        if uuid_string is None:
            return None
        try:
            uuid.UUID(uuid_string)
        except (ValueError, TypeError, AttributeError) as error:  # the reference: ValueError only (else raises)
            return error
        return None
