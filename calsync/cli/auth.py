"""``calsync auth PROVIDER``: the one-time consent (Google) or device-code sign-in (Microsoft)."""

from __future__ import annotations

import click

from calsync.cli.common import Context, bad_input
from calsync.config import GoogleProvider, OutlookProvider
from calsync.providers.google import auth as google_auth
from calsync.providers.outlook import auth as outlook_auth
from calsync.secrets import SecretBox, SecretError


@click.command()
@click.argument("provider")
@click.option("--no-browser", is_flag=True, help="Only print the address to open.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Local port for the consent redirect (0: any free port).")
@click.pass_obj
def auth(obj: Context, provider: str, no_browser: bool, port: int) -> None:
    """Authorize calsync to read a provider's calendars (Google consent, Microsoft device code)."""
    settings = obj.settings
    if provider not in settings.providers:
        known = ", ".join(sorted(settings.providers)) or "none"
        raise click.BadParameter(f"no provider named {provider!r} (known: {known})",
                                 param_hint="PROVIDER")
    chosen = settings.providers[provider]
    if isinstance(chosen, OutlookProvider) and chosen.auth == "device_code":
        try:
            box = SecretBox.load(settings.path(settings.secret_key_file))
            path = outlook_auth.authorize(provider, chosen, settings.path, box, say=click.echo)
        except (ValueError, SecretError) as exc:
            bad_input(str(exc), title="auth")
        click.echo(f"Signed in. The token cache is stored encrypted in {path} (mode 0600).")
        return
    if not isinstance(chosen, GoogleProvider) or chosen.auth != "oauth":
        auth_kind = getattr(chosen, "auth", "none")
        click.echo(f"Provider {provider!r} ({chosen.kind}, auth = {auth_kind}) needs no consent "
                   "step; `calsync doctor` checks that its calendars are readable.")
        return
    try:
        box = SecretBox.load(settings.path(settings.secret_key_file))
        path = google_auth.authorize(provider, chosen, settings.path, box,
                                   open_browser=not no_browser, port=port, say=click.echo)
    except (ValueError, SecretError) as exc:
        bad_input(str(exc), title="auth")
    click.echo(f"Authorized. The token is stored encrypted in {path} (mode 0600).")
