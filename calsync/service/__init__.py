"""The long-running service: the daemon loop, its HTTP surface, push channels, metrics.

``daemon`` runs the cycle (sync, evaluate, plan, act, email) on a timer and on
push; ``http`` serves /healthz, /metrics and the push webhooks; ``push`` keeps
Google channels and Graph subscriptions open and mints/verifies their tokens;
``metrics`` is calsync's Prometheus registry. The service may import anything
below it (ground, providers, store, policies, engine, report), never cli.
"""
