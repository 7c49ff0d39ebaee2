"""calsync's web app: an ASGI app (Starlette) served by uvicorn.

- ``hooks``: ``/healthz``, ``/metrics`` and the push webhooks;
- ``app``: puts the routes together, with security headers on every answer;
- ``server``: uvicorn in a background thread (``calsync run``) or alone
  (``calsync serve``).
"""
