"""The models of mParticle's Python SDK (0.16), same names, arguments and wire form.

Field lists follow the reference constructors' order. Enumerations accept the
reference's values plus those mParticle's Events API documents (e.g.
``custom_event_type="media"``). Differences, all deliberate (README, "Migrating
from mParticle's SDK"): checks run in constructors too; ``Batch(events=[...])``
wraps events like ``batch.events = [...]`` does (the reference sends them
unwrapped); ``CrashReportEvent`` is sent as ``crash_report`` (the reference says
``commerce_event``); every event type checks ``custom_attributes``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Type

from .model import Model, attribute_bag, model, one_of, uuid_text

__all__ = [
    "ApiResponse", "ApiResponseErrors", "AppEvent", "ApplicationInformation", "ApplicationStateTransitionEvent",
    "AttributionInfo", "Batch", "BatchContext", "BreadcrumbEvent", "CCPAConsentState", "CommerceEvent",
    "ConsentState", "CrashReportEvent", "DataPlanContext", "DeviceCurrentState", "DeviceInformation", "EventBase",
    "EventData", "FirstRunEvent", "GDPRConsentState", "GeoLocation", "MediaInfo", "NetworkPerformanceEvent",
    "OptOutEvent", "Product", "ProductAction", "ProductImpression", "ProfileEvent", "Promotion", "PromotionAction",
    "PushMessageEvent", "PushRegistrationEvent", "ScreenViewEvent", "SessionEndEvent", "SessionStartEvent",
    "ShoppingCart", "SourceInformation", "UserAttributeChangeEvent", "UserIdentities", "EVENT_TYPES",
]

EVENT_TYPES = (
    "unknown", "session_start", "session_end", "screen_view", "custom_event", "crash_report", "opt_out",
    "first_run", "pre_attribution", "push_registration", "application_state_transition", "push_message",
    "network_performance", "breadcrumb", "profile", "push_reaction", "commerce_event", "user_attribute_change",
    "user_identity_change", "uninstall",
)
_COMMON = "timestamp_unixtime_ms event_id source_message_id session_id session_uuid custom_attributes location device_current_state"

ApiResponseErrors = model("ApiResponseErrors", "code message")
ApiResponse = model("ApiResponse", "errors")
ApplicationInformation = model("ApplicationInformation", "application_name application_version install_referrer package")
AttributionInfo = model("AttributionInfo", "service_provider publisher campaign")
DataPlanContext = model("DataPlanContext", "plan_id plan_version")
BatchContext = model("BatchContext", "data_plan")
GeoLocation = model("GeoLocation", "latitude longitude accuracy")
Promotion = model("Promotion", "id name creative position")
GDPRConsentState = model("GDPRConsentState", "document consented timestamp_unixtime_ms location hardware_id")
CCPAConsentState = model("CCPAConsentState", "document consented timestamp_unixtime_ms location hardware_id")
SourceInformation = model(
    "SourceInformation", "channel partner replay_request_id replay_job_id",
    {"channel": one_of("unknown", "native", "javascript", "pixel", "desktop", "partner", "server_to_server", "All")},
)
_ORIENTATION = one_of("unknown", "portrait", "portrait_upside_down", "landscape", "LandscapeLeft", "LandscapeRight",
                      "FaceUp", "FaceDown", "Square")
DeviceCurrentState = model(
    "DeviceCurrentState",
    "time_since_start_ms battery_level data_connection_type data_connection_type_detail gps_state "
    "total_system_memory_usage_bytes disk_space_free_bytes cpu system_memory_available_bytes system_memory_low "
    "system_memory_threshold_bytes application_memory_available_bytes application_memory_max_bytes "
    "application_memory_total_bytes device_orientation status_bar_orientation",
    {"device_orientation": _ORIENTATION, "status_bar_orientation": _ORIENTATION},
)
MediaInfo = model(
    "MediaInfo", "action channel metadata timed_metadata playback_position format quality playback_rate",
    {"action": one_of("unknown", "play", "stop", "update_playback_position", "skip", "rate"),
     "format": one_of("unknown", "audio", "video"),
     "quality": one_of("unknown", "low", "sd", "medium", "hd", "ultra_hd")},
)
DeviceInformation = model(
    "DeviceInformation",
    "brand product device android_uuid device_manufacturer platform os_version device_model screen_height "
    "screen_width screen_dpi device_country locale_language locale_country network_country network_carrier "
    "network_code network_mobile_country_code timezone_offset build_identifier http_header_user_agent "
    "ios_advertising_id push_token cpu_architecture is_tablet push_notification_sound_enabled "
    "push_notification_vibrate_enabled radio_access_technology supports_telephony has_nfc bluetooth_enabled "
    "bluetooth_version att_timestamp_unixtime_ms att_authorization_status ios_idfv android_advertising_id amp_id "
    "roku_advertising_id roku_publisher_id microsoft_advertising_id microsoft_publisher_id fire_advertising_id",
    {"platform": one_of("Unknown", "iOS", "Android", "web", "tvOS", "roku", "out_of_band", "alexa", "smart_tv",
                        "fire_tv", "xbox"),
     "att_authorization_status": one_of("authorized", "denied", "not_determined", "restricted"),
     **{name: uuid_text for name in ("ios_advertising_id", "ios_idfv", "android_advertising_id",
                                     "roku_advertising_id", "fire_advertising_id")}},
)
UserIdentities = model(
    "UserIdentities",
    # ``customerid`` as the reference sends it (IDSync's spelling; README explains).
    "other customerid facebook twitter google microsoft yahoo email alias facebook_custom_audience_id other_id_2 "
    "other_id_3 other_id_4 other_id_5 other_id_6 other_id_7 other_id_8 other_id_9 other_id_10 mobile_number "
    "phone_number_2 phone_number_3",
)
Product = model(
    "Product",
    "id name brand category variant position price quantity coupon_code added_to_cart_time_ms "
    "total_product_amount custom_attributes",
    {"custom_attributes": attribute_bag},
)
ProductAction = model(
    "ProductAction",
    "action checkout_step checkout_options product_action_list product_list_source transaction_id affiliation "
    "total_amount tax_amount shipping_amount coupon_code products",
    {"action": one_of("unknown", "add_to_cart", "remove_from_cart", "checkout", "checkout_option", "click",
                      "view_detail", "purchase", "refund", "add_to_wishlist", "remove_from_wish_list")},
)
PromotionAction = model("PromotionAction", "action promotions", {"action": one_of("unknown", "view", "click")})
ProductImpression = model("ProductImpression", "product_impression_list products")
ShoppingCart = model("ShoppingCart", "products")
EventBase = model("EventBase", "data event_type", {"event_type": one_of(*EVENT_TYPES)})
EventData = model("EventData", _COMMON, {"custom_attributes": attribute_bag})


def _event(name: str, fields: str = "", checks: Optional[Dict[str, Any]] = None, **defaults: Any) -> Type[Model]:
    return model(name, f"{_COMMON} {fields}", checks, defaults, base=EventData)


FirstRunEvent = _event("FirstRunEvent")
SessionStartEvent = _event("SessionStartEvent")
SessionEndEvent = _event("SessionEndEvent", "session_duration_ms")
OptOutEvent = _event("OptOutEvent", "is_opted_out")
ScreenViewEvent = _event("ScreenViewEvent", "screen_name activity_type custom_flags")
BreadcrumbEvent = _event("BreadcrumbEvent", "session_number label")
PushRegistrationEvent = _event("PushRegistrationEvent", "register registration_token")
UserAttributeChangeEvent = _event("UserAttributeChangeEvent", "user_attribute_name new old deleted is_new_attribute")
NetworkPerformanceEvent = _event(
    "NetworkPerformanceEvent", "http_verb url time_elapsed bytes_in bytes_out response_code data"
)
ProfileEvent = _event(
    "ProfileEvent", "profile_name previous_profile_name profile_event_type",
    {"profile_event_type": one_of("unknown", "signup", "login", "logout", "update", "delete")},
)
PushMessageEvent = _event(
    "PushMessageEvent",
    "push_message_token push_message_type message network push_notification_payload application_state "
    "action_identifier",
    {"push_message_type": one_of("unknown", "sent", "received", "action"),
     "application_state": one_of("unknown", "not_running", "background", "foreground")},
)
CrashReportEvent = _event(
    "CrashReportEvent",
    "breadcrumbs class_name severity message stack_trace exception_handled topmost_context "
    "pl_crash_report_file_base64 ios_image_base_address ios_image_size session_number",
)
_TransitionBase = _event(
    "ApplicationStateTransitionEvent",
    "successfully_closed is_first_run is_upgrade push_notification_payload application_transition_type",
    {"application_transition_type": one_of("unknown", "application_initialized", "application_exit",
                                           "application_background", "application_foreground")},
)


class ApplicationStateTransitionEvent(_TransitionBase):  # type: ignore[misc, valid-type]
    """Install, upgrade, foreground and background of an app (``create_*_event``)."""

    __module__ = "analytics_sdk.mparticle.models"

    @classmethod
    def create_install_event(cls) -> "ApplicationStateTransitionEvent":
        return cls(application_transition_type="application_initialized", is_first_run=True, is_upgrade=False)

    @classmethod
    def create_upgrade_event(cls) -> "ApplicationStateTransitionEvent":
        return cls(application_transition_type="application_initialized", is_first_run=False, is_upgrade=True)

    @classmethod
    def create_foreground_event(cls) -> "ApplicationStateTransitionEvent":
        return cls(application_transition_type="application_foreground")

    @classmethod
    def create_background_event(cls) -> "ApplicationStateTransitionEvent":
        return cls(application_transition_type="application_background")


_AppEventBase = _event(
    "AppEvent",
    "media_info custom_flags",
    {"custom_event_type": one_of("unknown", "navigation", "location", "search", "transaction", "user_content",
                                 "user_preference", "social", "other", "media", "attribution")},
)


class AppEvent(_AppEventBase):  # type: ignore[misc, valid-type]
    """A custom event: ``AppEvent(event_name, custom_event_type="other", ...)``."""

    __module__ = "analytics_sdk.mparticle.models"
    _fields = ("event_name", "custom_event_type", *_AppEventBase._fields)
    _defaults = {"custom_event_type": "other"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.event_name is None:
            raise ValueError("AppEvent: event_name is required")

    @classmethod
    def create_attribution_event(cls, publisher: Optional[str] = None, campaign: Optional[str] = None) -> "AppEvent":
        return cls("attribution", "attribution", custom_attributes={"campaign": campaign, "publisher": publisher})

    @classmethod
    def create_attribution_delete_event(cls) -> "AppEvent":
        return cls("attribution", "attribution", custom_attributes={"action": "delete"})


_CommerceBase = _event(
    "CommerceEvent",
    "promotion_action product_impressions shopping_cart currency_code screen_name is_non_interactive custom_flags",
)


class CommerceEvent(_CommerceBase):  # type: ignore[misc, valid-type]
    """A commerce event: one of ``product_action``, ``promotion_action``, ``product_impressions``."""

    __module__ = "analytics_sdk.mparticle.models"
    _fields = ("product_action", *_CommerceBase._fields)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.product_action is None and self.product_impressions is None and self.promotion_action is None:
            raise ValueError(
                "CommerceEvent: one of product_action, product_impressions or promotion_action is required"
            )


class ConsentState(Model):
    """``ccpa`` ({"data_sale_opt_out": CCPAConsentState}) and ``gdpr`` ({purpose: GDPRConsentState})."""

    __module__ = "analytics_sdk.mparticle.models"
    _fields = ("ccpa", "gdpr")

    def __init__(self) -> None:
        super().__init__(ccpa={}, gdpr={})


# The event_type each event class travels as (Batch wraps events in EventBase).
EVENT_CLASSES: Dict[type, str] = {
    AppEvent: "custom_event",
    FirstRunEvent: "first_run",
    SessionStartEvent: "session_start",
    SessionEndEvent: "session_end",
    ApplicationStateTransitionEvent: "application_state_transition",
    ScreenViewEvent: "screen_view",
    PushRegistrationEvent: "push_registration",
    ProfileEvent: "profile",
    OptOutEvent: "opt_out",
    BreadcrumbEvent: "breadcrumb",
    CommerceEvent: "commerce_event",
    PushMessageEvent: "push_message",
    NetworkPerformanceEvent: "network_performance",
    CrashReportEvent: "crash_report",
    UserAttributeChangeEvent: "user_attribute_change",
}


def _wrap(event: Any) -> Any:
    if type(event) is EventBase:
        return event
    event_type = EVENT_CLASSES.get(type(event))
    if event_type is None:
        allowed = ", ".join(sorted(cls.__name__ for cls in EVENT_CLASSES))
        raise ValueError(f"Batch.events: {type(event).__name__} is not an event; use one of {allowed} (or EventBase)")
    return EventBase(data=event, event_type=event_type)


def _events(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{owner}.{name} must be a list of events, got {type(value).__name__}")


class Batch(Model):
    """One user's events and user-level data, for one environment."""

    __module__ = "analytics_sdk.mparticle.models"
    _fields = tuple(
        "events source_request_id environment ip schema_version device_info application_info user_attributes "
        "deleted_user_attributes user_identities api_key mpid mp_deviceid consent_state context "
        "integration_attributes".split()
    )
    _checks = {"environment": one_of("production", "development"), "events": _events}

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "events" and value is not None:
            _events("Batch", name, value)
            value = [_wrap(event) for event in value]
        super().__setattr__(name, value)

    events: Optional[List[Any]]
