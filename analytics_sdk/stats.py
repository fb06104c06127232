"""``Client.stats()``: the counters of each route and plugin worker, and their sums."""

from __future__ import annotations

from typing import Any, Dict, Iterable

from .delivery.outcomes import Outcomes
from .routes import Route

__all__ = ["client_stats", "route_stats"]


def route_stats(worker: Any, outcomes: Outcomes) -> Dict[str, Any]:
    snapshot = {"enqueued": worker.enqueued, **outcomes.snapshot()}
    snapshot["queue_depth"] = worker.depth
    spool = getattr(worker, "spool", None)
    if spool is not None:
        snapshot["spool_depth"] = spool.count
    return snapshot


def client_stats(before_routing: Outcomes, routes: Iterable[Route], plugin_workers: Iterable[Any]) -> Dict[str, Any]:
    per_destination = {route.name: route_stats(route.consumer, route.outcomes) for route in routes}
    plugins = {
        worker.outcomes.destination.name if worker.outcomes.destination else "plugin": route_stats(worker, worker.outcomes)
        for worker in plugin_workers
    }
    totals: Dict[str, Any] = {"enqueued": 0, "delivered": 0, "retried_requests": 0, "dropped": {}, "queue_depth": 0}
    for part in [before_routing.snapshot(), *per_destination.values()]:
        for key, value in part.items():
            if key == "dropped":
                for reason, count in value.items():
                    totals["dropped"][reason] = totals["dropped"].get(reason, 0) + count
            elif isinstance(value, int) and key != "dropped_total":
                totals[key] = totals.get(key, 0) + value
    totals["dropped_total"] = sum(totals["dropped"].values())
    totals.setdefault("filtered", 0)
    totals.setdefault("opted_out", 0)
    totals["destinations"] = per_destination
    if plugins:
        totals["plugins"] = plugins
    return totals
