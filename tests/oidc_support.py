"""A small OpenID Connect provider on loopback, for the sign-in tests.

A helper module, not a test module: its name does not start with ``test_``.

It does what Google's and Microsoft's endpoints do for the authorization code
flow, and checks what they check: a discovery document, a JWKS, an authorize
endpoint that (the person having "consented") redirects back with a one-time
code and the state, and a token endpoint that authenticates the client,
insists on the PKCE verifier matching the S256 challenge and the same
redirect URI, and returns an RS256-signed ID token with the nonce. ``person``
is whoever "signs in" next; ``tamper`` spoils the next ID token one way.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from calsync.service.web.server import WebServer

CLIENT_ID = "calsync-test-client"
CLIENT_SECRET = "s3cret-for-tests-only"  # a test value, not a secret


class OidcProvider:
    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.person: dict[str, Any] = {}
        self.tamper: str | None = None
        self.codes: dict[str, dict[str, Any]] = {}
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        app = Starlette(routes=[
            Route("/.well-known/openid-configuration", self.discovery),
            Route("/jwks", self.jwks),
            Route("/authorize", self.authorize),
            Route("/token", self.token, methods=["POST"]),
        ])
        self.server = WebServer("127.0.0.1:0", app)

    def __enter__(self) -> OidcProvider:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()

    @property
    def issuer(self) -> str:
        return self.server.url

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        })

    async def jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.authorize_requests.append(query)
        wanted = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
                  "code_challenge", "code_challenge_method")
        if any(not query.get(name) for name in wanted):
            return PlainTextResponse("missing parameter", 400)
        if (query["response_type"] != "code" or query["client_id"] != CLIENT_ID
                or "openid" not in query["scope"].split()
                or query["code_challenge_method"] != "S256"):
            return PlainTextResponse("bad request", 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"person": dict(self.person), "nonce": query["nonce"],
                            "challenge": query["code_challenge"],
                            "redirect_uri": query["redirect_uri"]}
        back = urlencode({"code": code, "state": query["state"]})
        return RedirectResponse(f"{query['redirect_uri']}?{back}", 302)

    async def token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.codes.pop(form.get("code", ""), None)  # one use only
        if form.get("grant_type") != "authorization_code" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, 400)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if challenge != grant["challenge"] or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        return JSONResponse({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                             "expires_in": 3600, "scope": "openid email profile",
                             "id_token": self.id_token(grant)})

    def id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": "user-" + secrets.token_hex(4), "aud": CLIENT_ID,
                  "iat": now, "exp": now + 600, "nonce": grant["nonce"], **grant["person"]}
        key = self.key
        spoil, self.tamper = self.tamper, None
        if spoil == "nonce":
            claims["nonce"] = "not-the-nonce"
        elif spoil == "issuer":
            claims["iss"] = "https://evil.example.com"
        elif spoil == "audience":
            claims["aud"] = "another-client"
        elif spoil == "expired":
            claims["iat"], claims["exp"] = now - 7200, now - 3600
        elif spoil == "signature":
            key = self.other_key
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
