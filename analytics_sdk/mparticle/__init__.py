"""Drop-in for mParticle's Python SDK (``mparticle`` 0.16)::

    import analytics_sdk.mparticle as mparticle

    configuration = mparticle.Configuration()
    configuration.api_key = "KEY"
    configuration.api_secret = "SECRET"
    api = mparticle.EventsApi(configuration)
    batch = mparticle.Batch(environment="development")
    batch.user_identities = mparticle.UserIdentities(customerid="user-1")
    batch.events = [mparticle.AppEvent("Clicked Buy", "navigation")]
    api.upload_events(batch)        # returns once accepted, or raises mparticle.rest.ApiException

Same models, arguments and request bodies; uploads add timeouts, retries with
``Retry-After`` (for the call that got the 429, never process-wide) and an opt-in
background mode (``configuration.background = True``). docs/migrating/mparticle.md
lists every difference.
"""

from __future__ import annotations

# The reference's modules, at its paths: models (one module per model), apis.events_api,
# api_client, configuration, rest; imported here as the reference's __init__ does, so
# ``mparticle.models.batch.Batch`` works after a bare ``import mparticle``.
from . import api_client, apis, configuration, models, rest
from .api_client import ApiClient
from .apis import EventsApi
from .configuration import Configuration
from .models import *  # noqa: F401,F403 - the reference exports every model at the top
from .models import __all__ as _models
from .rest import ApiException

__all__ = [
    "ApiClient", "ApiException", "Configuration", "EventsApi", "api_client", "apis", "configuration", "models",
    "rest", *_models,
]
