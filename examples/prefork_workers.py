"""gunicorn --preload / Celery prefork / multiprocessing: create the client in the
parent, fork workers, and every worker's events are delivered exactly once.

    analytics-sdk serve &              # the local collector, http://127.0.0.1:8088
    python examples/prefork_workers.py

It sends to the local collector unless ANALYTICS_HOST names another one (with
ANALYTICS_WRITE_KEY, your source's write key).
"""

import multiprocessing
import os

import analytics_sdk

analytics_sdk.write_key = os.environ.get("ANALYTICS_WRITE_KEY", "dev")
analytics_sdk.host = os.environ.get("ANALYTICS_HOST", "http://127.0.0.1:8088")


def work(worker: int) -> None:
    # A forked child gets its own queue and uploader; nothing to configure.
    for job in range(10):
        analytics_sdk.track(f"worker-{worker}", "Job Done", {"job": job})
    # No flush needed: a multiprocessing child delivers at exit.


if __name__ == "__main__":
    analytics_sdk.track("master", "Server Started")  # the parent's client exists before forking
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=work, args=(n,)) for n in range(3)]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
    analytics_sdk.flush()
    print("workers finished")
