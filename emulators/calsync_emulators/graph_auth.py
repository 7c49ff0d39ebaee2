"""The Microsoft identity platform, as much of it as msal needs, for the Graph emulator.

Served by :class:`calsync_emulators.graph.GraphEmulator` next to Graph:

- ``GET /{tenant}/v2.0/.well-known/openid-configuration`` -- the OIDC document.
  msal only accepts **https** authorities (shared/provider-facts.md section 2.7),
  so it advertises endpoints on the real host
  ``https://login.microsoftonline.com/{tenant}/...``; the client passes
  ``http_client=EmulatorHttpClient(emu.url_root)``, which sends requests for that
  host (and for ``graph.microsoft.com``) to the emulator instead.
- ``GET /common/discovery/instance`` -- instance metadata (msal asks for it
  when it looks up cached accounts).
- ``POST /{tenant}/oauth2/v2.0/token`` -- ``client_credentials``, the device
  code grant and ``refresh_token``. User tokens come with an unsigned
  ``id_token`` and ``client_info`` (base64url JSON ``{"uid", "utid"}``), which
  msal requires (it decodes the id_token's claims without verifying them).
- ``POST /{tenant}/oauth2/v2.0/devicecode`` -- starts a device flow; polling
  answers ``authorization_pending`` until a test calls
  :meth:`AuthState.approve_device_code` (or ``POST /_emulator/device-codes``).

Access tokens are unsigned JWTs (``alg: none``) the emulator remembers; Graph
calls must carry one it issued and that has not expired, else 401
``InvalidAuthenticationToken``. Errors use the AAD shape: ``error``,
``error_description`` ("AADSTS...: ..."), ``error_codes``, ``timestamp``,
``trace_id``, ``correlation_id``.
"""

from __future__ import annotations

import base64
import json
import random
import string
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

Json = dict[str, Any]

LOGIN_HOST = "https://login.microsoftonline.com"
GRAPH_HOST = "https://graph.microsoft.com"
GRAPH_RESOURCE = "https://graph.microsoft.com"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: Lifetime of issued access tokens (AAD's usual 3599 s).
TOKEN_LIFETIME = timedelta(seconds=3599)
#: How long a device code may be redeemed (AAD: 15 minutes).
DEVICE_CODE_LIFETIME = timedelta(seconds=900)
_RESERVED_SCOPES = {"openid", "profile", "offline_access"}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unsigned_jwt(claims: Json) -> str:
    header = _b64url(json.dumps({"typ": "JWT", "alg": "none"}).encode())
    return f"{header}.{_b64url(json.dumps(claims, separators=(',', ':')).encode())}."


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a Graph call acts as: an app (``upn`` None) or a signed-in user."""

    client_id: str
    upn: str | None
    scopes: tuple[str, ...]
    expires: datetime


@dataclass(slots=True)
class DeviceCode:
    device_code: str
    user_code: str
    client_id: str
    scopes: tuple[str, ...]
    expires: datetime
    upn: str | None = None
    denied: bool = False
    redeemed: bool = False


@dataclass(slots=True)
class AuthState:
    """Issued tokens, device codes and registered apps of one emulator (thread-safe)."""

    tenant_id: str
    clock: Callable[[], datetime]
    lock: threading.RLock
    device_code_interval: int = 5
    user_id: Callable[[str], str] = field(
        default=lambda upn: str(uuid.uuid5(uuid.NAMESPACE_URL, upn))
    )
    user_name: Callable[[str], str] = field(default=lambda upn: upn)
    _rng: random.Random = field(default_factory=lambda: random.Random(0))
    _tokens: dict[str, Principal] = field(default_factory=dict)
    _refresh: dict[str, Principal] = field(default_factory=dict)
    _codes: dict[str, DeviceCode] = field(default_factory=dict)
    _apps: dict[str, str | None] = field(default_factory=dict)

    # ------------------------------------------------------------ setup ----
    def register_app(self, client_id: str, client_secret: str | None = None) -> None:
        """Once any app is registered, only registered apps (and their secrets) get tokens."""
        with self.lock:
            self._apps[client_id] = client_secret

    def _now(self) -> datetime:
        value = self.clock()
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def _random(self, alphabet: str, size: int) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(size))

    # ------------------------------------------------------------ tokens ----
    def issue_token(
        self,
        upn: str | None = None,
        *,
        client_id: str = "00000000-0000-0000-0000-000000000001",
        scopes: tuple[str, ...] = (f"{GRAPH_RESOURCE}/.default",),
    ) -> str:
        """An access token for an app (``upn`` None) or a user, valid for TOKEN_LIFETIME."""
        with self.lock:
            return self._access_token(Principal(client_id, upn, scopes, self._expiry()))

    def _expiry(self) -> datetime:
        return self._now() + TOKEN_LIFETIME

    def _access_token(self, principal: Principal) -> str:
        now = int(self._now().timestamp())
        claims: Json = {
            "aud": GRAPH_RESOURCE,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": int(principal.expires.timestamp()),
            "appid": principal.client_id,
            "tid": self.tenant_id,
            "uti": self._random(string.ascii_letters + string.digits, 22),
            "ver": "1.0",
        }
        if principal.upn is None:
            claims["roles"] = ["Calendars.ReadWrite"]
        else:
            claims.update(
                {
                    "upn": principal.upn,
                    "oid": self.user_id(principal.upn),
                    "scp": " ".join(s.rsplit("/", 1)[-1] for s in principal.scopes),
                }
            )
        token = _unsigned_jwt(claims)
        self._tokens[token] = principal
        return token

    def validate(self, authorization: str | None) -> tuple[Principal | None, str]:
        """The principal of an ``Authorization`` header, or (None, Graph's 401 message)."""
        if not authorization or not authorization.strip():
            return None, "Access token is empty."
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, "Access token is empty."
        with self.lock:
            principal = self._tokens.get(token.strip())
            if principal is None:
                if token.count(".") != 2:
                    return None, "IDX14100: JWT is not well formed, there are no dots (.)."
                return None, "Access token validation failure. Invalid audience."
            if principal.expires <= self._now():
                return None, "Lifetime validation failed, the token is expired."
            return principal, ""

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired from now on (refresh tokens still work)."""
        with self.lock:
            past = self._now() - timedelta(seconds=1)
            for token, principal in list(self._tokens.items()):
                self._tokens[token] = Principal(
                    principal.client_id, principal.upn, principal.scopes, past
                )

    # -------------------------------------------------------- endpoints ----
    def openid_configuration(self, tenant: str) -> Json:
        base = f"{LOGIN_HOST}/{tenant}"
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{LOGIN_HOST}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{LOGIN_HOST}/{self.tenant_id}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{GRAPH_HOST}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "email",
            ],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    @staticmethod
    def instance_discovery(query: Mapping[str, list[str]]) -> Json:
        tenant = "common"
        endpoint = (query.get("authorization_endpoint") or [""])[-1]
        parts = urllib.parse.urlsplit(endpoint).path.split("/")
        if len(parts) > 1 and parts[1]:
            tenant = parts[1]
        return {
            "tenant_discovery_endpoint": f"{LOGIN_HOST}/{tenant}/v2.0/.well-known/"
            "openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {
                    "preferred_network": "login.microsoftonline.com",
                    "preferred_cache": "login.windows.net",
                    "aliases": [
                        "login.microsoftonline.com",
                        "login.windows.net",
                        "login.microsoft.com",
                        "sts.windows.net",
                    ],
                }
            ],
        }

    def _error(self, status: int, error: str, code: int, message: str) -> tuple[int, Json]:
        now = self._now()
        trace = str(uuid.UUID(int=self._rng.getrandbits(128)))
        correlation = str(uuid.UUID(int=self._rng.getrandbits(128)))
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        description = (
            f"AADSTS{code}: {message}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {stamp}"
        )
        return status, {
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{LOGIN_HOST}/error?code={code}",
        }

    def _check_client(self, form: Mapping[str, str], *, secret: bool) -> tuple[int, Json] | None:
        client_id = form.get("client_id", "")
        if not client_id:
            return self._error(
                400, "invalid_request", 900144, "The request body must contain 'client_id'."
            )
        if not self._apps:
            return None
        if client_id not in self._apps:
            return self._error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant_id}'.",
            )
        expected = self._apps[client_id]
        if secret and expected is not None and form.get("client_secret") != expected:
            return self._error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        return None

    @staticmethod
    def _scopes(form: Mapping[str, str]) -> tuple[str, ...]:
        scopes = [s for s in form.get("scope", "").split() if s]
        return tuple(s for s in scopes if s not in _RESERVED_SCOPES) or (
            f"{GRAPH_RESOURCE}/.default",
        )

    def token(self, form: Mapping[str, str]) -> tuple[int, Json]:
        """``POST /{tenant}/oauth2/v2.0/token``: (status, JSON body)."""
        with self.lock:
            grant = form.get("grant_type", "")
            if grant == "client_credentials":
                problem = self._check_client(form, secret=True)
                if problem:
                    return problem
                principal = Principal(form["client_id"], None, self._scopes(form), self._expiry())
                return 200, {
                    "token_type": "Bearer",
                    "expires_in": int(TOKEN_LIFETIME.total_seconds()),
                    "ext_expires_in": int(TOKEN_LIFETIME.total_seconds()),
                    "access_token": self._access_token(principal),
                }
            if grant == DEVICE_CODE_GRANT:
                return self._redeem_device_code(form)
            if grant == "refresh_token":
                found = self._refresh.get(form.get("refresh_token", ""))
                if found is None:
                    return self._error(
                        400,
                        "invalid_grant",
                        9002313,
                        "Invalid request. Request is malformed or invalid.",
                    )
                assert found.upn is not None
                return 200, self._user_tokens(found.client_id, found.upn, found.scopes)
            return self._error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )

    def devicecode(self, form: Mapping[str, str]) -> tuple[int, Json]:
        """``POST /{tenant}/oauth2/v2.0/devicecode``: start a device flow."""
        with self.lock:
            problem = self._check_client(form, secret=False)
            if problem:
                return problem
            user_code = self._random(string.ascii_uppercase + string.digits, 9)
            device_code = self._random(string.ascii_letters + string.digits + "-_", 120)
            code = DeviceCode(
                device_code,
                user_code,
                form["client_id"],
                self._scopes(form),
                self._now() + DEVICE_CODE_LIFETIME,
            )
            self._codes[device_code] = code
            uri = "https://microsoft.com/devicelogin"
            return 200, {
                "user_code": user_code,
                "device_code": device_code,
                "verification_uri": uri,
                "expires_in": int(DEVICE_CODE_LIFETIME.total_seconds()),
                "interval": self.device_code_interval,
                "message": f"To sign in, use a web browser to open the page {uri} and enter the "
                f"code {user_code} to authenticate.",
            }

    def _find_user_code(self, user_code: str) -> DeviceCode:
        for code in self._codes.values():
            if code.user_code == user_code.strip().upper():
                return code
        raise KeyError(f"no device code with user code {user_code!r}")

    def approve_device_code(self, user_code: str, upn: str) -> None:
        """The user signs in as ``upn`` and enters ``user_code``: the next poll gets tokens."""
        with self.lock:
            self._find_user_code(user_code).upn = upn

    def deny_device_code(self, user_code: str) -> None:
        """The user declines: the next poll gets ``authorization_declined``."""
        with self.lock:
            self._find_user_code(user_code).denied = True

    def _redeem_device_code(self, form: Mapping[str, str]) -> tuple[int, Json]:
        code = self._codes.get(form.get("device_code", ""))
        if code is None or code.redeemed:
            return self._error(
                400,
                "invalid_grant",
                70000,
                "The provided value for the 'device_code' is not valid.",
            )
        if code.expires <= self._now():
            return self._error(
                400,
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This "
                "device code has expired.",
            )
        if code.denied:
            return self._error(
                400, "authorization_declined", 70000, "The user declined to authorize the app."
            )
        if code.upn is None:
            return self._error(
                400,
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )
        code.redeemed = True
        return 200, self._user_tokens(code.client_id, code.upn, code.scopes)

    def _user_tokens(self, client_id: str, upn: str, scopes: tuple[str, ...]) -> Json:
        now = self._now()
        principal = Principal(client_id, upn, scopes, now + TOKEN_LIFETIME)
        oid = self.user_id(upn)
        id_claims = {
            "aud": client_id,
            "iss": f"{LOGIN_HOST}/{self.tenant_id}/v2.0",
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + TOKEN_LIFETIME).timestamp()),
            "name": self.user_name(upn),
            "oid": oid,
            "preferred_username": upn,
            "sub": _b64url(oid.encode())[:43],
            "tid": self.tenant_id,
            "ver": "2.0",
        }
        refresh = self._random(string.ascii_letters + string.digits + "-_.", 160)
        self._refresh[refresh] = principal
        granted = [s for s in scopes if not s.endswith("/.default")] or list(scopes)
        return {
            "token_type": "Bearer",
            "scope": " ".join([*granted, "openid", "profile", "offline_access"]),
            "expires_in": int(TOKEN_LIFETIME.total_seconds()),
            "ext_expires_in": int(TOKEN_LIFETIME.total_seconds()),
            "access_token": self._access_token(principal),
            "refresh_token": refresh,
            "id_token": _unsigned_jwt(id_claims),
            "client_info": _b64url(json.dumps({"uid": oid, "utid": self.tenant_id}).encode()),
        }


# ----------------------------------------------------------- http client ----
class EmulatorResponse:
    """A requests-like response (what msal's ``http_client`` contract asks for)."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.text = response.text
        self.headers = response.headers
        self.content = response.content
        self.url = str(response.url)

    def json(self) -> Any:
        return json.loads(self.text)

    def raise_for_status(self) -> None:
        self._response.raise_for_status()


class EmulatorHttpClient:
    """Sends requests for login.microsoftonline.com and graph.microsoft.com to the emulator.

    For msal: ``ConfidentialClientApplication(cid, client_credential=secret,
    authority="https://login.microsoftonline.com/<tenant>",
    http_client=EmulatorHttpClient(emu.url_root))``. msal keeps its https
    authority (it rejects http ones) and this client rewrites the host. Any
    other URL is requested unchanged.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout, trust_env=False)

    def rewrite(self, url: str) -> str:
        for host in (LOGIN_HOST, GRAPH_HOST):
            if url == host or url.startswith(host + "/") or url.startswith(host + "?"):
                return self.base_url + url[len(host) :]
        return url

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> EmulatorResponse:
        response = self._client.get(
            self.rewrite(url),
            params=dict(params or {}),
            headers=dict(headers or {}),
            timeout=kwargs.get("timeout", self._client.timeout),
        )
        return EmulatorResponse(response)

    def post(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> EmulatorResponse:
        send_headers = dict(headers or {})
        if isinstance(data, Mapping):
            content = urllib.parse.urlencode(data).encode()
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        elif isinstance(data, str):
            content = data.encode("utf-8")
        else:
            content = data
        json_body = kwargs.get("json")
        response = self._client.post(
            self.rewrite(url),
            params=dict(params or {}),
            content=content if json_body is None else None,
            json=json_body,
            headers=send_headers,
            timeout=kwargs.get("timeout", self._client.timeout),
        )
        return EmulatorResponse(response)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorHttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
