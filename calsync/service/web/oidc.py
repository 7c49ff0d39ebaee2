"""Signing in with Google or Microsoft: OpenID Connect through authlib's Starlette client.

``[web.oidc]`` names the provider (``kind = "google" | "microsoft" | "oidc"``),
the client id of the team's existing OAuth client or app registration, and the
environment variable that holds its secret. The flow is the authorization code
flow with PKCE (S256), a ``state`` and a ``nonce``; authlib keeps all three in
the signed session cookie, exchanges the code, checks the ID token's signature
against the provider's JWKS, its issuer, audience, expiry and nonce.

calsync then takes the token's ``email`` claim and signs the person in only if
that address is a configured person or admin. Google (and a generic provider)
must also say ``email_verified``; Microsoft's v2.0 tokens carry no such claim,
so there the configured tenant (a concrete one, never ``common``) vouches for
its users' addresses. Anyone else gets a page that says why, and no session.

The redirect URI to register with the provider is ``<public_url>/signin/oidc/callback``.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, Protocol

import authlib.deprecate  # installs authlib's own warning filter before ours below
from authlib.common.errors import AuthlibBaseError
from joserfc.errors import JoseError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from calsync.config import OidcSettings
from calsync.model import normalize_email
from calsync.service.web import auth

__all__ = ["CALLBACK", "OidcSecretMissing", "OidcSignIn", "oidc_sign_in"]

log = logging.getLogger(__name__)

with warnings.catch_warnings():
    # authlib >= 1.7 prefers the httpx2 package and warns, on every import, that it
    # falls back to httpx (which it still fully supports): not a message for users.
    warnings.filterwarnings("ignore", "The httpx module is deprecated",
                            authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.starlette_client import OAuth

try:  # authlib talks HTTP through httpx2 when it is installed, else through httpx
    from httpx2 import HTTPError  # type: ignore[import-not-found]
except ImportError:
    from httpx import HTTPError

START = "/signin/oidc"
CALLBACK = "/signin/oidc/callback"
SCOPES = "openid email profile"
_NEXT = "oidc_next"


class OidcSecretMissing(ValueError):
    """``[web.oidc]`` is configured but its client secret is not in the environment."""


class TeamSite(Protocol):
    """What the sign-in needs of the pages (:class:`calsync.service.web.site.TeamSite`)."""

    def base_url(self, request: Request) -> str: ...

    def may_sign_in(self, email: str) -> bool: ...

    def refuse(self, request: Request, status: int, problem: str) -> Response: ...


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    label: str


def oidc_sign_in(settings: OidcSettings | None,
                 environ: dict[str, str] | None = None) -> OidcSignIn | None:
    """The configured OpenID Connect sign-in, or None; the secret comes from the environment."""
    if settings is None:
        return None
    env = os.environ if environ is None else environ
    secret = env.get(settings.client_secret_env, "")
    if not secret:
        raise OidcSecretMissing(
            f"[web.oidc] needs the client secret in the environment variable "
            f"{settings.client_secret_env}, which is not set"
        )
    return OidcSignIn(settings, secret)


class OidcSignIn:
    """The two routes of one provider: start (redirect out) and callback (come back)."""

    def __init__(self, settings: OidcSettings, secret: str, *, timeout: float = 10) -> None:
        self.settings = settings
        oauth = OAuth()
        self.client: Any = oauth.register(
            name="oidc",
            client_id=settings.client_id,
            client_secret=secret,
            server_metadata_url=settings.metadata_url(),
            client_kwargs={"scope": SCOPES, "code_challenge_method": "S256",
                           "timeout": timeout},
        )
        self.provider = Provider("oidc", settings.display())

    def names(self) -> list[Provider]:
        return [self.provider]

    def routes(self, site: TeamSite) -> list[BaseRoute]:
        async def start(request: Request) -> Response:
            return await self.start(site, request)

        async def callback(request: Request) -> Response:
            return await self.callback(site, request)

        return [Route(START, start, methods=["GET"]),
                Route(CALLBACK, callback, methods=["GET"])]

    async def start(self, site: TeamSite, request: Request) -> Response:
        request.session[_NEXT] = auth.safe_next(request.query_params.get("next", "/"))
        redirect_uri = site.base_url(request) + CALLBACK
        try:
            response: Response = await self.client.authorize_redirect(request, redirect_uri)
        except (AuthlibBaseError, HTTPError, ValueError, KeyError) as exc:
            log.error("web: %s sign-in could not start: %s", self.provider.label, exc)
            return site.refuse(request, 502, f"{self.provider.label} could not be reached to "
                               "sign you in. Try again in a minute.")
        return response

    async def callback(self, site: TeamSite, request: Request) -> Response:
        label = self.provider.label
        target = request.session.get(_NEXT)
        try:
            token = await self.client.authorize_access_token(request)
        except (AuthlibBaseError, JoseError, HTTPError, ValueError, KeyError) as exc:
            # A forged or replayed state, a refused consent, a bad or reused code, an ID
            # token with a wrong signature, issuer, audience, nonce or expiry.
            log.warning("web: a %s sign-in was refused: %s", label, exc)
            return site.refuse(request, 400, f"The {label} sign-in did not complete. "
                               "Start again from this page.")
        claims = token.get("userinfo") or {}
        email = self.email_of(claims)
        if email is None:
            log.warning("web: a %s sign-in carried no usable email claim", label)
            return site.refuse(request, 403, f"{label} did not tell calsync a verified email "
                               "address for your account, so calsync cannot tell who you are.")
        if not site.may_sign_in(email):
            log.info("web: %s signed in with %s but is not in the team", email, label)
            return site.refuse(request, 403, f"{email} is not a person in this calsync team. "
                               "Ask whoever runs calsync to add you under [[people]].")
        auth.sign_in(request, email)
        log.info("web: %s signed in with %s", email, label)
        return RedirectResponse(auth.safe_next(target if isinstance(target, str) else "/"), 303)

    def email_of(self, claims: dict[str, Any]) -> str | None:
        raw = claims.get("email")
        if not isinstance(raw, str) or "@" not in raw or len(raw) >= 320:
            return None
        if self.settings.kind != "microsoft" and claims.get("email_verified") not in (True,
                                                                                      "true"):
            return None
        return normalize_email(raw)
