"""``amplitude.constants``: the public constants of ``amplitude-analytics``, with the
values this drop-in uses (endpoints, operation names, limits, defaults).

``SDK_LIBRARY``/``SDK_VERSION`` name this SDK, which is what events carry in
``library``. ``PluginType`` is the one enum every plugin of this package uses.
"""

from __future__ import annotations

import enum

from ..plugins import PluginType
from ..version import VERSION

__all__ = [
    "SDK_LIBRARY", "SDK_VERSION", "EU_ZONE", "DEFAULT_ZONE", "BATCH", "HTTP_V2", "SERVER_URL", "LOGGER_NAME",
    "IDENTIFY_EVENT", "GROUP_IDENTIFY_EVENT", "IDENTITY_OP_ADD", "IDENTITY_OP_APPEND", "IDENTITY_OP_CLEAR_ALL",
    "IDENTITY_OP_PREPEND", "IDENTITY_OP_SET", "IDENTITY_OP_SET_ONCE", "IDENTITY_OP_UNSET", "IDENTITY_OP_PRE_INSERT",
    "IDENTITY_OP_POST_INSERT", "IDENTITY_OP_REMOVE", "UNSET_VALUE", "REVENUE_PRODUCT_ID", "REVENUE_QUANTITY",
    "REVENUE_PRICE", "REVENUE_TYPE", "REVENUE_RECEIPT", "REVENUE_RECEIPT_SIG", "REVENUE", "REVENUE_CURRENCY",
    "AMP_REVENUE_EVENT", "MAX_PROPERTY_KEYS", "MAX_STRING_LENGTH", "FLUSH_QUEUE_SIZE", "FLUSH_INTERVAL_MILLIS",
    "FLUSH_MAX_RETRIES", "CONNECTION_TIMEOUT", "MAX_BUFFER_CAPACITY", "PluginType", "EventLogLevel",
]

SDK_LIBRARY = "analytics-sdk-python"
SDK_VERSION = VERSION

EU_ZONE = "EU"
DEFAULT_ZONE = "US"
BATCH = "batch"
HTTP_V2 = "v2"
SERVER_URL = {
    EU_ZONE: {BATCH: "https://api.eu.amplitude.com/batch", HTTP_V2: "https://api.eu.amplitude.com/2/httpapi"},
    DEFAULT_ZONE: {BATCH: "https://api2.amplitude.com/batch", HTTP_V2: "https://api2.amplitude.com/2/httpapi"},
}
LOGGER_NAME = "amplitude"

IDENTIFY_EVENT = "$identify"
GROUP_IDENTIFY_EVENT = "$groupidentify"
IDENTITY_OP_ADD = "$add"
IDENTITY_OP_APPEND = "$append"
IDENTITY_OP_CLEAR_ALL = "$clearAll"
IDENTITY_OP_PREPEND = "$prepend"
IDENTITY_OP_SET = "$set"
IDENTITY_OP_SET_ONCE = "$setOnce"
IDENTITY_OP_UNSET = "$unset"
IDENTITY_OP_PRE_INSERT = "$preInsert"
IDENTITY_OP_POST_INSERT = "$postInsert"
IDENTITY_OP_REMOVE = "$remove"
UNSET_VALUE = "-"

REVENUE_PRODUCT_ID = "$productId"
REVENUE_QUANTITY = "$quantity"
REVENUE_PRICE = "$price"
REVENUE_TYPE = "$revenueType"
REVENUE_RECEIPT = "$receipt"
REVENUE_RECEIPT_SIG = "$receiptSig"
REVENUE = "$revenue"
REVENUE_CURRENCY = "$currency"
AMP_REVENUE_EVENT = "revenue_amount"

MAX_PROPERTY_KEYS = 1024  # an object with more keys is sent as {} (logged)
MAX_STRING_LENGTH = 1024  # longer strings are cut
FLUSH_QUEUE_SIZE = 200
FLUSH_INTERVAL_MILLIS = 10_000
FLUSH_MAX_RETRIES = 12
CONNECTION_TIMEOUT = 10.0  # seconds
MAX_BUFFER_CAPACITY = 20_000


class EventLogLevel(enum.Enum):
    """Level of the log line for each batch of events not delivered (``Config.event_log_level``)."""

    NONE = 0
    DEBUG = 1
    INFO = 2
