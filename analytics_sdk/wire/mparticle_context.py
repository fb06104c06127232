"""Pure: mParticle's batch-level fields of a Segment-spec message: user identities,
device and application info, consent (docs/destinations.md, "mParticle").

Mistakes in the caller's options raise :class:`ValidationError` at the call site.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Dict, Mapping, Optional

from ..errors import ValidationError

__all__ = [
    "IDENTITY_TYPES",
    "is_map",
    "timestamp_ms",
    "options_of",
    "identities_of",
    "is_uuid",
    "platform_of",
    "device_info",
    "application_info",
    "consent_state",
    "context_fields",
]

# The 22 user identity names of the Events API (json-reference). ``customer_id``
# is what the Events API documents and its JSON Schema allows; the reference SDK's
# ``customerid`` is IDSync's spelling (docs/destinations.md explains the choice).
IDENTITY_TYPES = (
    "other", "customer_id", "facebook", "twitter", "google", "microsoft", "yahoo", "email", "alias",
    "facebook_custom_audience_id", "other_id_2", "other_id_3", "other_id_4", "other_id_5", "other_id_6",
    "other_id_7", "other_id_8", "other_id_9", "other_id_10", "mobile_number", "phone_number_2", "phone_number_3",
)


def is_map(value: Any) -> bool:
    # A plain dict first: isinstance() against the Mapping ABC costs ~1 us per call on the hot path.
    return type(value) is dict or isinstance(value, Mapping)


def timestamp_ms(value: Any) -> Optional[int]:
    """Unix milliseconds of an ISO-8601 string (the builders' ``timestamp``) or a number."""
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return None


def options_of(message: Mapping[str, Any]) -> Mapping[str, Any]:
    integrations = message.get("integrations") or {}
    options = integrations.get("mParticle")
    return options if options is not None and is_map(options) else {}


def identities_of(message: Mapping[str, Any], options: Mapping[str, Any], traits: Mapping[str, Any]) -> Dict[str, str]:
    identities: Dict[str, str] = {}
    user_id = message.get("userId")
    if user_id:
        identities["customer_id"] = user_id
    email = traits.get("email")
    if isinstance(email, str) and email:
        identities["email"] = email
    extra = options.get("user_identities")
    if extra is not None:
        if not is_map(extra):
            raise ValidationError('integrations["mParticle"]["user_identities"] must be a dict of identity -> id')
        for name, value in extra.items():
            if name not in IDENTITY_TYPES:
                raise ValidationError(
                    f'integrations["mParticle"]["user_identities"]: unknown identity {name!r}; '
                    f"one of {', '.join(IDENTITY_TYPES)}"
                )
            if value is not None:
                identities[name] = str(value)
    return identities


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def platform_of(context: Mapping[str, Any]) -> Optional[str]:
    os_info = context.get("os") or {}
    device = context.get("device") or {}
    name = str(os_info.get("name") or device.get("type") or "").lower()
    if name in ("ios", "ipados", "iphone os"):
        return "iOS"
    if name == "android":
        return "Android"
    if name == "tvos":
        return "tvOS"
    if name in ("roku", "xbox", "alexa"):
        return name
    if context.get("userAgent") or context.get("page"):
        return "web"
    return None


def device_info(context: Mapping[str, Any]) -> Dict[str, Any]:
    """context.device/os/userAgent/locale/network/screen -> device_info."""
    info: Dict[str, Any] = {}
    device = context.get("device") or {}
    os_info = context.get("os") or {}
    platform = platform_of(context)
    if platform:
        info["platform"] = platform
    for source, key, target in (
        (os_info, "version", "os_version"), (device, "model", "device_model"),
        (device, "manufacturer", "device_manufacturer"), (device, "brand", "brand"), (device, "name", "device"),
    ):
        if source.get(key) is not None:
            info[target] = str(source[key])
    if context.get("userAgent"):
        info["http_header_user_agent"] = str(context["userAgent"])
    locale = context.get("locale")
    if isinstance(locale, str) and locale:
        language, _, country = locale.replace("_", "-").partition("-")
        info["locale_language"] = language
        if country:
            info["locale_country"] = country
    carrier = (context.get("network") or {}).get("carrier")
    if carrier:
        info["network_carrier"] = str(carrier)
    screen = context.get("screen") or {}
    for key, target in (("width", "screen_width"), ("height", "screen_height"), ("density", "screen_dpi")):
        if isinstance(screen.get(key), (int, float)) and not isinstance(screen.get(key), bool):
            info[target] = int(screen[key])
    # Advertising and vendor ids must be UUIDs (mParticle rejects others): only valid ones go.
    ad_id, device_id = device.get("advertisingId"), device.get("id")
    if platform == "iOS":
        if isinstance(ad_id, str) and is_uuid(ad_id):
            info["ios_advertising_id"] = ad_id
        if isinstance(device_id, str) and is_uuid(device_id):
            info["ios_idfv"] = device_id
    elif platform == "Android":
        if isinstance(ad_id, str) and is_uuid(ad_id):
            info["android_advertising_id"] = ad_id
        if device_id:
            info["android_uuid"] = str(device_id)
    return info


def application_info(context: Mapping[str, Any]) -> Dict[str, Any]:
    app = context.get("app") or {}
    info = {}
    for key, target in (("name", "application_name"), ("version", "application_version"),
                        ("build", "application_build_number"), ("namespace", "package")):
        if app.get(key) is not None:
            info[target] = str(app[key])
    return info


def consent_entry(where: str, value: Any, default_ms: Optional[int]) -> Dict[str, Any]:
    """One purpose: ``True``/``False`` or a dict with ``consented`` and optional details."""
    if isinstance(value, bool):
        value = {"consented": value}
    if not is_map(value) or not isinstance(value.get("consented"), bool):
        raise ValidationError(f"{where} must be true/false or a dict with a boolean 'consented'")
    entry: Dict[str, Any] = {"consented": value["consented"]}
    for key, target in (("document", "document"), ("location", "location"),
                        ("hardwareId", "hardware_id"), ("hardware_id", "hardware_id")):
        if value.get(key) is not None:
            entry[target] = str(value[key])
    when = value.get("timestamp", value.get("timestamp_unixtime_ms"))
    ms = timestamp_ms(when) if when is not None else default_ms
    if when is not None and ms is None:
        raise ValidationError(f"{where}.timestamp must be ISO-8601 or Unix milliseconds, got {when!r}")
    if ms is not None:
        entry["timestamp_unixtime_ms"] = ms
    return entry


def consent_state(consent: Any, default_ms: Optional[int]) -> Optional[Dict[str, Any]]:
    """``context.consent`` -> mParticle ``consent_state`` (docs/destinations.md).

    ``categoryPreferences`` (Segment's consent spec) and ``gdpr`` map purposes to
    GDPR consent; ``ccpa.dataSaleOptOut`` (or ``data_sale_opt_out``) to CCPA.
    Purpose names are lowercased, as mParticle stores them.
    """
    if consent is None:
        return None
    if not is_map(consent):
        raise ValidationError("context.consent must be a dict")
    gdpr: Dict[str, Any] = {}
    for source in ("categoryPreferences", "gdpr"):
        purposes = consent.get(source)
        if purposes is None:
            continue
        if not is_map(purposes):
            raise ValidationError(f"context.consent.{source} must be a dict of purpose -> consent")
        for purpose, value in purposes.items():
            gdpr[str(purpose).lower()] = consent_entry(f"context.consent.{source}.{purpose}", value, default_ms)
    ccpa: Dict[str, Any] = {}
    ccpa_in = consent.get("ccpa")
    if ccpa_in is not None:
        if not is_map(ccpa_in):
            raise ValidationError("context.consent.ccpa must be a dict")
        for key, value in ccpa_in.items():
            if key not in ("dataSaleOptOut", "data_sale_opt_out"):
                raise ValidationError(f"context.consent.ccpa: unknown purpose {key!r}; CCPA has only dataSaleOptOut")
            ccpa["data_sale_opt_out"] = consent_entry(f"context.consent.ccpa.{key}", value, default_ms)
    if not gdpr and not ccpa:
        return None
    state: Dict[str, Any] = {}
    if ccpa:
        state["ccpa"] = ccpa
    if gdpr:
        state["gdpr"] = gdpr
    return state


def context_fields(batch: Dict[str, Any], context: Mapping[str, Any], ms: Optional[int]) -> None:
    """The batch's ``device_info``, ``application_info``, ``ip`` and ``consent_state`` from ``context``."""
    device = device_info(context)
    if device:
        batch["device_info"] = device
    app = application_info(context)
    if app:
        batch["application_info"] = app
    if context.get("ip"):
        batch["ip"] = str(context["ip"])
    consent = consent_state(context.get("consent"), ms)
    if consent:
        batch["consent_state"] = consent
