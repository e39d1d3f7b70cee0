"""Reconcile logic: plain Python between a ModelArtsPool object and the ModelArts client.

Imports neither kopf nor httpx: the handlers hand it a view of the object and a sink for what it decides,
and it drives the typed ModelArts client.
"""
