"""``calsync serve``: the web app alone (1:1 pages, sign-in, API, /healthz, /metrics).

Several ``serve`` processes may run on one PostgreSQL behind a load balancer,
next to one ``calsync run`` that syncs and books. Push webhooks are served by
``calsync run`` only: route ``/push/`` to it.
"""

from __future__ import annotations

import click

from calsync.cli.common import Context, bad_input, opened_store
from calsync.secrets import SecretBox, SecretError
from calsync.service.push_tokens import push_secret
from calsync.service.web.factory import database_health, web_app
from calsync.service.web.hooks import Hooks
from calsync.service.web.oidc import OidcSecretMissing
from calsync.service.web.server import parse_listen, serve_forever


@click.command()
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Where to listen (default: [web] listen, else [daemon] listen).")
@click.pass_obj
def serve(obj: Context, listen: str | None) -> None:
    """Serve the 1:1 pages and the API (no syncing; `calsync run` does that)."""
    settings = obj.settings
    listen = listen or settings.web.listen or settings.daemon.listen
    try:
        parse_listen(listen)
    except ValueError as exc:
        bad_input(str(exc))
    try:
        box = SecretBox.load(settings.path(settings.secret_key_file))
    except SecretError as exc:
        bad_input(str(exc))
    with opened_store(settings, obj.config_path) as store:
        store.sync_config(settings)
        hooks = Hooks(push_secret(box.fingerprint()), database_health(store))
        click.echo(f"calsync: serving the 1:1 pages on http://{listen}", err=True)
        try:
            app = web_app(settings, store, hooks, box)
        except OidcSecretMissing as exc:
            bad_input(str(exc))
        serve_forever(listen, app)
