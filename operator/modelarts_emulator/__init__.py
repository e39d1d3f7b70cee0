"""A local emulator of the ModelArts v2 resource pools API (see ``/work/shared/modelarts-api.md``).

It speaks the same paths, bodies, error bodies and ``SDK-HMAC-SHA256`` verification as Huawei's gateway, runs
the pool phase machine on a clock, and offers a control API under ``/_emulator/`` for tests. It never imports
kopf or the Kubernetes client: it is a plain aiohttp application.
"""
