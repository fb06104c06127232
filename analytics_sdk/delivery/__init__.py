"""Delivery: the queue and uploader threads, retry timing, batching, outcome accounting,
the on-disk spool and one HTTP attempt. Generic over destinations; nothing here knows a
backend's wire format."""
