"""holds.Holds: held records come back by due time, the earliest first."""

from __future__ import annotations

from analytics_sdk.delivery.holds import Holds


def test_holds_come_back_earliest_first_and_only_when_due():
    holds = Holds()
    assert not holds and holds.next_due() is None and holds.pop_due(10.0) is None
    holds.push(5.0, 1)
    holds.push(2.0, 2)
    holds.push(9.0, 3)
    assert holds and holds.next_due() == 2.0
    assert holds.pop_due(1.9) is None  # nothing due yet
    assert holds.pop_due(5.0) == 2
    assert holds.pop_due(5.0) == 1
    assert holds.pop_due(5.0) is None and holds.next_due() == 9.0
    holds.clear()
    assert not holds and holds.pop_due(100.0) is None
