"""The models of mParticle's Python SDK (0.16): same names, modules, arguments and wire form.

One module per model, named as the reference names it (``models/app_event.py``
holds ``AppEvent`` ...), so ``from mparticle.models.app_event import AppEvent``
keeps working through the alias; ``base`` is ours (the field machinery). Field
lists follow the reference constructors' order. Enumerations accept the
reference's values plus those mParticle's Events API documents (e.g.
``custom_event_type="media"``). Differences, all deliberate
(docs/migrating/mparticle.md): checks run in constructors too;
``Batch(events=[...])`` wraps events like ``batch.events = [...]`` does (the
reference sends them unwrapped); ``CrashReportEvent`` is sent as ``crash_report``
(the reference says ``commerce_event``); every event type checks ``custom_attributes``.
"""

from __future__ import annotations

# Every submodule is imported here, as in the reference, so ``mparticle.models.batch.Batch``
# works after a bare ``import mparticle``.
from .api_response import ApiResponse
from .api_response_errors import ApiResponseErrors
from .app_event import AppEvent
from .application_information import ApplicationInformation
from .application_state_transition_event import ApplicationStateTransitionEvent
from .attribution_info import AttributionInfo
from .batch import EVENT_CLASSES, Batch  # noqa: F401 - EVENT_CLASSES: event class -> event_type
from .batch_context import BatchContext
from .breadcrumb_event import BreadcrumbEvent
from .ccpa_consent_state import CCPAConsentState
from .commerce_event import CommerceEvent
from .consent_state import ConsentState
from .crash_report_event import CrashReportEvent
from .data_plan_context import DataPlanContext
from .device_current_state import DeviceCurrentState
from .device_information import DeviceInformation
from .event_base import EVENT_TYPES, EventBase
from .event_data import EventData
from .first_run_event import FirstRunEvent
from .gdpr_consent_state import GDPRConsentState
from .geo_location import GeoLocation
from .media_info import MediaInfo
from .network_performance_event import NetworkPerformanceEvent
from .opt_out_event import OptOutEvent
from .product import Product
from .product_action import ProductAction
from .product_impression import ProductImpression
from .profile_event import ProfileEvent
from .promotion import Promotion
from .promotion_action import PromotionAction
from .push_message_event import PushMessageEvent
from .push_registration_event import PushRegistrationEvent
from .screen_view_event import ScreenViewEvent
from .session_end_event import SessionEndEvent
from .session_start_event import SessionStartEvent
from .shopping_cart import ShoppingCart
from .source_information import SourceInformation
from .user_attribute_change_event import UserAttributeChangeEvent
from .user_identities import UserIdentities

__all__ = [
    "ApiResponse", "ApiResponseErrors", "AppEvent", "ApplicationInformation", "ApplicationStateTransitionEvent",
    "AttributionInfo", "Batch", "BatchContext", "BreadcrumbEvent", "CCPAConsentState", "CommerceEvent",
    "ConsentState", "CrashReportEvent", "DataPlanContext", "DeviceCurrentState", "DeviceInformation", "EventBase",
    "EventData", "FirstRunEvent", "GDPRConsentState", "GeoLocation", "MediaInfo", "NetworkPerformanceEvent",
    "OptOutEvent", "Product", "ProductAction", "ProductImpression", "ProfileEvent", "Promotion", "PromotionAction",
    "PushMessageEvent", "PushRegistrationEvent", "ScreenViewEvent", "SessionEndEvent", "SessionStartEvent",
    "ShoppingCart", "SourceInformation", "UserAttributeChangeEvent", "UserIdentities", "EVENT_TYPES",
]
