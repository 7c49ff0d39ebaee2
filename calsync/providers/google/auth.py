"""Google credentials: OAuth (installed app), service account with domain-wide
delegation, or none (a local emulator only).

OAuth tokens are stored encrypted (``calsync.secrets``) in a 0600 file and
written back whenever google-auth refreshes them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from google.auth.exceptions import GoogleAuthError
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from calsync.config import GoogleProvider
from calsync.providers.base import ProviderError, ReauthorizationNeeded
from calsync.secrets import SecretBox, SecretError

# Least privilege: events of the calendars calsync syncs (read, and write the
# make-ups and agenda blocks it owns), and free/busy for everyone else.
# calendar.events does not cover freeBusy.query; calendar.freebusy does.
SCOPES = (
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.freebusy",
)


class CredentialSource:
    """Which credential reads a calendar, and the credential itself."""

    def subject_for(self, calendar: str) -> str | None:
        """Calendars with the same subject share one credential (and one batch)."""
        return None

    def credentials(self, subject: str | None, calendar: str) -> Any | None:
        """google-auth credentials, or None for plain unauthenticated HTTP."""
        return None

    def save(self) -> None:
        """Persist anything refreshed since loading."""


class NoCredentials(CredentialSource):
    """For a loopback emulator (the config refuses ``none`` anywhere else)."""


class OAuthCredentials(CredentialSource):
    """One user's OAuth grant for every calendar of the provider."""

    def __init__(self, provider: str, token_file: Path, box: SecretBox) -> None:
        self.provider = provider
        self.token_file = token_file
        self.box = box
        self._creds: user_credentials.Credentials | None = None
        self._saved_token: str | None = None

    def credentials(self, subject: str | None, calendar: str) -> Any:
        if self._creds is None:
            try:
                raw = self.box.read(self.token_file)
            except SecretError as exc:
                raise ReauthorizationNeeded(calendar, str(exc)) from None
            if raw is None:
                raise ReauthorizationNeeded(
                    calendar,
                    f"no Google authorization yet for provider {self.provider!r}; "
                    f"run `calsync -c <config> auth {self.provider}`",
                )
            try:
                info = json.loads(raw)
                creds = user_credentials.Credentials.from_authorized_user_info(info, list(SCOPES))
                # google-auth always points refreshes at Google's endpoint, to stop a
                # planted token file from sending a refresh token elsewhere. Ours is
                # encrypted with our key and records the endpoint the consent flow
                # used (an emulator's, in a test setup), so it is kept.
                if info.get("token_uri"):
                    creds = creds.with_token_uri(info["token_uri"])
                self._creds = creds
            except (ValueError, GoogleAuthError) as exc:
                raise ReauthorizationNeeded(
                    calendar,
                    f"the stored Google token of {self.provider!r} is unusable ({exc}); "
                    f"run `calsync -c <config> auth {self.provider}`",
                ) from None
            self._saved_token = self._creds.token
        return self._creds

    def save(self) -> None:
        if self._creds is not None and self._creds.token != self._saved_token:
            self.box.write(self.token_file, self._creds.to_json().encode())
            self._saved_token = self._creds.token


class ServiceAccountCredentials(CredentialSource):
    """Domain-wide delegation: the service account acts as each calendar's owner."""

    def __init__(self, key_file: Path, owners: Mapping[str, str]) -> None:
        self.key_file = key_file
        self.owners = owners
        self._base: service_account.Credentials | None = None

    def subject_for(self, calendar: str) -> str | None:
        return self.owners.get(calendar, calendar)

    def credentials(self, subject: str | None, calendar: str) -> Any:
        if self._base is None:
            try:
                self._base = service_account.Credentials.from_service_account_file(
                    str(self.key_file), scopes=list(SCOPES)
                )
            except FileNotFoundError:
                raise ProviderError(calendar, f"{self.key_file}: no such key file") from None
            except (ValueError, KeyError, GoogleAuthError) as exc:
                raise ProviderError(
                    calendar, f"{self.key_file}: not a service account key ({exc})"
                ) from None
        return self._base.with_subject(subject) if subject else self._base


def credential_source(
    name: str,
    settings: GoogleProvider,
    resolve: Callable[[str], Path],
    box: Callable[[], SecretBox],
    owners: Mapping[str, str],
) -> CredentialSource:
    """The credential source a provider's config asks for.

    ``resolve`` turns config paths into real ones; ``box`` gives the secret box
    (only called when tokens are involved, so a key file is not created for
    nothing); ``owners`` maps calendar ids to their owners' emails.
    """
    if settings.auth == "none":
        return NoCredentials()
    if settings.auth == "service_account":
        assert settings.service_account_file is not None
        return ServiceAccountCredentials(resolve(settings.service_account_file), owners)
    return OAuthCredentials(name, token_path(name, settings, resolve), box())


def token_path(name: str, settings: GoogleProvider, resolve: Callable[[str], Path]) -> Path:
    return resolve(settings.token_file or f"{name}.token")


def authorize(
    name: str,
    settings: GoogleProvider,
    resolve: Callable[[str], Path],
    box: SecretBox,
    *,
    open_browser: bool,
    port: int = 0,
    say: Callable[[str], None] = print,
) -> Path:
    """Run the installed-app consent flow and store the token encrypted; return its path."""
    from google_auth_oauthlib.flow import InstalledAppFlow

    if settings.auth != "oauth":
        raise ValueError(f"provider {name!r} uses auth = {settings.auth!r}: nothing to authorize")
    assert settings.client_secrets is not None
    secrets_file = resolve(settings.client_secrets)
    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(secrets_file), scopes=list(SCOPES))
    except FileNotFoundError:
        raise ValueError(f"{secrets_file}: no such OAuth client file") from None
    except ValueError as exc:
        raise ValueError(f"{secrets_file}: not an OAuth client file ({exc})") from None
    say(
        "Open the address below in a browser and allow calsync to read and write "
        "calendar events and read free/busy. On a server without a browser, run "
        "with --port N and forward it first (ssh -L N:localhost:N server)."
    )
    creds = flow.run_local_server(
        host="localhost",
        port=port,
        open_browser=open_browser,
        authorization_prompt_message="\n{url}\n",
        success_message="calsync is authorized. You can close this tab.",
    )
    path = token_path(name, settings, resolve)
    box.write(path, creds.to_json().encode())
    return path
