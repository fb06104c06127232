"""Shared fixtures: a real collector on 127.0.0.1 and clients that are always shut down."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

import analytics_sdk
from analytics_sdk import Client
from analytics_sdk.devserver import Collector, Faults


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector() as running:
        yield running


@pytest.fixture
def faulty_collector() -> Iterator[Callable[..., Collector]]:
    """Factory: ``faulty_collector(error_rate=0.2, ...)`` starts a collector with faults."""
    started: List[Collector] = []

    def start(**faults: Any) -> Collector:
        running = Collector(faults=Faults(**faults)).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def make_client(collector: Collector) -> Iterator[Callable[..., Client]]:
    """Factory for clients pointed at the collector; shut down after the test."""
    clients: List[Client] = []

    def make(**options: Any) -> Client:
        options.setdefault("host", collector.url)
        options.setdefault("write_key", "test-key")
        client = Client(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown(timeout=2)


@pytest.fixture
def module_settings(collector: Collector) -> Iterator[Any]:
    """Module-level API pointed at the collector; settings restored afterwards."""
    saved = {name: getattr(analytics_sdk, name) for name in analytics_sdk.settings.DEFAULTS}
    analytics_sdk.shutdown(timeout=1)
    analytics_sdk.write_key = "module-key"
    analytics_sdk.host = collector.url
    yield analytics_sdk
    analytics_sdk.shutdown(timeout=1)
    for name, value in saved.items():
        setattr(analytics_sdk, name, value)
