"""The caller's cost with nothing running beside it: ``track()`` with ``send=False``
and its parts, one message reused, ``timeit`` best of 15 (the floor that
compare.py's figures stand on)::

    python benchmarks/caller_floor.py                              # orjson if installed
    ANALYTICS_SDK_JSON=stdlib python benchmarks/caller_floor.py    # the default install
"""

from __future__ import annotations

import os
import sys
import timeit
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import analytics_sdk  # noqa: E402
from analytics_sdk import messages  # noqa: E402
from analytics_sdk.message_encoding import encode_message  # noqa: E402
from compare import event_properties  # noqa: E402


def best_us(call: Callable[[], Any], number: int = 20000) -> float:
    return min(timeit.repeat(call, number=number, repeat=15)) / number * 1e6


def main() -> int:
    properties = event_properties(5)
    message = messages.build_track("user-1", "Order Completed", properties)
    client = analytics_sdk.Client("k", send=False)
    print(f"encoder: {analytics_sdk.serialization.ENCODER}")
    for label, call in (
        ("track(), send=False", lambda: client.track("user-1", "Order Completed", properties)),
        ("build_track", lambda: messages.build_track("user-1", "Order Completed", properties)),
        ("encode_message", lambda: encode_message(message)),
        ("new_message_id", messages.new_message_id),
    ):
        print(f"  {label:22s} {best_us(call):6.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
