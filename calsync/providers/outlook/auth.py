"""Microsoft 365 tokens with msal: app-only (client credentials), device code, or none.

- ``client_credentials``: a ``ConfidentialClientApplication`` for the app
  registration, with the secret from an environment variable or a
  certificate; scope ``https://graph.microsoft.com/.default`` (the application
  permissions an administrator consented to).
- ``device_code``: a ``PublicClientApplication``; ``calsync auth NAME`` shows
  the code to enter at https://microsoft.com/devicelogin, and later runs use
  the signed-in account's refresh token silently.
- ``none``: no token, for a loopback emulator only (the config refuses it
  anywhere else).

msal's token cache is serialized and stored encrypted (``calsync.secrets``)
in a 0600 file, and written back whenever msal changed it. Nothing here
imports the emulator: tests and the demo hand msal an ``http_client`` that
sends Microsoft's hosts to it, as msal only accepts https authorities.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from calsync.config import OutlookProvider
from calsync.providers.base import ProviderError, ReauthorizationNeeded
from calsync.secrets import SecretBox, SecretError

LOGIN_HOST = "https://login.microsoftonline.com"
#: App-only: whatever application permissions were consented (Calendars.ReadWrite).
APP_SCOPES = ("https://graph.microsoft.com/.default",)
#: Delegated: the signed-in person's calendar and the calendars shared with them
#: (read sync, getSchedule, and the make-ups calsync writes). msal adds
#: openid, profile and offline_access itself.
DELEGATED_SCOPES = ("Calendars.ReadWrite", "Calendars.ReadWrite.Shared")
#: msal error codes that mean a person must sign in again.
_REAUTH_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required"})
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)


class TokenSource(Protocol):
    """Bearer tokens for Graph calls."""

    def token(self, calendar: str, *, refresh: bool = False) -> str | None:
        """An access token (None: send no Authorization header); ``refresh`` skips caches."""
        ...

    def save(self) -> None:
        """Persist anything msal changed since loading."""
        ...


class NoTokens:
    """For a loopback emulator (the config refuses ``auth = "none"`` anywhere else)."""

    def token(self, calendar: str, *, refresh: bool = False) -> str | None:
        return None

    def save(self) -> None:
        return None


def authority_of(settings: OutlookProvider) -> str:
    return f"{LOGIN_HOST}/{settings.tenant_id}"


class _Cache:
    """msal's SerializableTokenCache, loaded from and saved to an encrypted 0600 file."""

    def __init__(self, path: Path, box: SecretBox) -> None:
        import msal

        self.path = path
        self.box = box
        self.cache = msal.SerializableTokenCache()
        raw = box.read(path)
        if raw is not None:
            self.cache.deserialize(raw.decode("utf-8"))

    def save(self) -> None:
        if self.cache.has_state_changed:
            self.box.write(self.path, self.cache.serialize().encode("utf-8"))
            self.cache.has_state_changed = False


class MsalTokens:
    """Tokens from msal for one provider (app-only or a signed-in account)."""

    def __init__(
        self,
        provider: str,
        settings: OutlookProvider,
        cache_path: Path,
        box: Callable[[], SecretBox],
        resolve: Callable[[str], Path],
        *,
        http_client: Any | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings
        self.cache_path = cache_path
        self._box = box
        self._resolve = resolve
        self._http_client = http_client
        self._app: Any | None = None
        self._cache: _Cache | None = None
        self._lock = threading.Lock()

    # -- msal objects -----------------------------------------------------------

    def _application(self, calendar: str) -> Any:
        import msal

        if self._app is not None:
            return self._app
        try:
            self._cache = _Cache(self.cache_path, self._box())
        except SecretError as exc:
            raise ReauthorizationNeeded(calendar, str(exc)) from None
        common: dict[str, Any] = {
            "authority": authority_of(self.settings),
            "token_cache": self._cache.cache,
        }
        if self._http_client is not None:
            common["http_client"] = self._http_client
        try:
            if self.settings.auth == "device_code":
                self._app = msal.PublicClientApplication(self.settings.client_id, **common)
            else:
                credential = client_credential(self.settings, self._resolve, calendar)
                self._app = msal.ConfidentialClientApplication(
                    self.settings.client_id, client_credential=credential, **common
                )
        except ValueError as exc:  # msal's checks of the authority and the credential
            raise ProviderError(calendar, f"Microsoft identity platform: {exc}") from None
        return self._app

    # -- TokenSource --------------------------------------------------------------

    def token(self, calendar: str, *, refresh: bool = False) -> str | None:
        with self._lock:
            app = self._application(calendar)
            try:
                if self.settings.auth == "device_code":
                    result = self._delegated(app, calendar, refresh)
                else:
                    if refresh:
                        app.remove_tokens_for_client()
                    result = app.acquire_token_for_client(list(APP_SCOPES))
            except (OSError, ValueError) as exc:
                raise ProviderError(
                    calendar, f"cannot reach the Microsoft identity platform: {exc}"
                ) from None
            finally:
                self._save()
            return self._access_token(result, calendar)

    def _delegated(self, app: Any, calendar: str, refresh: bool) -> dict[str, Any]:
        accounts = app.get_accounts()
        if not accounts:
            raise ReauthorizationNeeded(
                calendar,
                f"no Microsoft 365 sign-in yet for provider {self.provider!r}; "
                f"run `calsync -c <config> auth {self.provider}`",
            )
        result = app.acquire_token_silent_with_error(
            list(DELEGATED_SCOPES), account=accounts[0], force_refresh=refresh
        )
        if result is None:
            raise ReauthorizationNeeded(
                calendar,
                f"the Microsoft 365 sign-in of {self.provider!r} has expired; "
                f"run `calsync -c <config> auth {self.provider}` again",
            )
        return result

    def _access_token(self, result: dict[str, Any], calendar: str) -> str:
        if "access_token" in result:
            return str(result["access_token"])
        error = str(result.get("error") or "unknown_error")
        # The description can echo request details; the first line is enough.
        detail = str(result.get("error_description") or "").splitlines()[0:1]
        text = f"{error}: {detail[0]}" if detail else error
        if error in _REAUTH_ERRORS:
            raise ReauthorizationNeeded(
                calendar,
                f"Microsoft 365 refused the sign-in ({text}); "
                f"run `calsync -c <config> auth {self.provider}` again",
            )
        raise ProviderError(calendar, f"Microsoft identity platform refused a token ({text})")

    def _save(self) -> None:
        if self._cache is not None:
            self._cache.save()

    def save(self) -> None:
        with self._lock:
            self._save()


def client_credential(
    settings: OutlookProvider, resolve: Callable[[str], Path], calendar: str = "auth"
) -> str | dict[str, str]:
    """msal's ``client_credential``: the secret from its variable, or the certificate."""
    if settings.client_secret_env:
        secret = os.environ.get(settings.client_secret_env, "")
        if not secret:
            raise ProviderError(
                calendar,
                f"the client secret variable {settings.client_secret_env} is not set "
                "(client_secret_env in the provider's config)",
            )
        return secret
    assert settings.certificate_file is not None
    path = resolve(settings.certificate_file)
    if path.suffix.lower() in (".pfx", ".p12"):
        if not path.is_file():
            raise ProviderError(calendar, f"{path}: no such certificate file")
        return {"private_key_pfx_path": str(path)}
    try:
        pem = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ProviderError(calendar, f"{path}: no such certificate file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProviderError(calendar, f"{path}: cannot read the certificate ({exc})") from None
    key = _pem_block(pem, "PRIVATE KEY")
    if key is None:
        raise ProviderError(calendar, f"{path}: no PEM private key in the certificate file")
    if settings.certificate_thumbprint:
        return {"private_key": key, "thumbprint": settings.certificate_thumbprint}
    certificate = _pem_block(pem, "CERTIFICATE")
    if certificate is None:
        raise ProviderError(
            calendar,
            f"{path}: no certificate next to the private key; add it to the file or set "
            "certificate_thumbprint",
        )
    return {"private_key": key, "public_certificate": certificate}


def _pem_block(text: str, label: str) -> str | None:
    """The first PEM block whose label ends with ``label`` (RSA PRIVATE KEY too)."""
    for match in _PEM.finditer(text):
        if match[1].endswith(label):
            return match[0] + "\n"
    return None


def cache_path(name: str, settings: OutlookProvider, resolve: Callable[[str], Path]) -> Path:
    return resolve(settings.token_cache or f"{name}.msal")


def token_source(
    name: str,
    settings: OutlookProvider,
    resolve: Callable[[str], Path],
    box: Callable[[], SecretBox],
    *,
    http_client: Any | None = None,
) -> TokenSource:
    """The token source a provider's config asks for.

    ``resolve`` turns config paths into real ones; ``box`` gives the secret box
    (called only once a token is needed); ``http_client`` is handed to msal.
    """
    if settings.auth == "none":
        return NoTokens()
    return MsalTokens(
        name, settings, cache_path(name, settings, resolve), box, resolve, http_client=http_client
    )


def authorize(
    name: str,
    settings: OutlookProvider,
    resolve: Callable[[str], Path],
    box: SecretBox,
    *,
    say: Callable[[str], None] = print,
    http_client: Any | None = None,
) -> Path:
    """The device code flow for ``calsync auth NAME``: show the code, wait, store the cache.

    Blocks while msal polls the token endpoint, until the person has signed in
    (or the code expired). Returns the encrypted cache file.
    """
    import msal

    if settings.auth != "device_code":
        raise ValueError(
            f"provider {name!r} uses auth = {settings.auth!r}: nothing to authorize "
            "(an administrator grants application permissions in Entra ID)"
        )
    path = cache_path(name, settings, resolve)
    try:
        cache = _Cache(path, box)
    except SecretError:
        # A cache we cannot decrypt is replaced by this sign-in.
        cache = _Cache.__new__(_Cache)
        cache.path, cache.box, cache.cache = path, box, msal.SerializableTokenCache()
    options: dict[str, Any] = {"authority": authority_of(settings), "token_cache": cache.cache}
    if http_client is not None:
        options["http_client"] = http_client
    app = msal.PublicClientApplication(settings.client_id, **options)
    flow = app.initiate_device_flow(scopes=list(DELEGATED_SCOPES))
    if "user_code" not in flow:
        error = flow.get("error_description") or flow.get("error") or "no device code"
        raise ValueError(f"Microsoft identity platform refused the device flow: {error}")
    say(str(flow["message"]))
    result = app.acquire_token_by_device_flow(flow)
    if "access_token" not in result:
        error = result.get("error_description") or result.get("error") or "unknown error"
        raise ValueError(f"sign-in did not complete: {str(error).splitlines()[0]}")
    cache.cache.has_state_changed = True
    cache.save()
    return path
