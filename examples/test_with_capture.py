"""How to test your own code's tracking with the pytest fixture (run with pytest)."""

import analytics_sdk


def complete_checkout(user_id: str, total: float) -> None:
    analytics_sdk.track(user_id, "Order Completed", {"total": total, "currency": "EUR"})


def test_checkout_tracks_the_order(analytics_events):
    complete_checkout("u1", 42.0)
    analytics_events.assert_tracked("Order Completed", user_id="u1", properties={"total": 42.0})
