"""The TOML configuration, validated into typed settings.

Every error names the file, the key path and what is wrong, so a user can fix
a config without reading code. Unknown keys are errors: a typo must never be
silently ignored.
"""

from __future__ import annotations

import re
import string
import tomllib
from datetime import date, time, timedelta
from email.utils import parseaddr
from functools import lru_cache
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

from calsync.model import normalize_email
from calsync.timeutil import Cadence, WorkingHours, format_duration, parse_duration


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (e.g. '30s', '10m', '1h15m', '2d')")
    return parse_duration(value)


def _positive_duration(value: Any) -> timedelta:
    parsed = _duration(value)
    if parsed <= timedelta(0):
        raise ValueError("must be longer than zero")
    return parsed


def _cadence(value: Any) -> Cadence:
    if isinstance(value, Cadence):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a cadence (weekly, biweekly, monthly, 'every N weeks')")
    return Cadence.parse(value)


def _working_hours(value: Any) -> WorkingHours:
    if isinstance(value, WorkingHours):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not working hours (e.g. 'Mon-Fri 09:00-17:00')")
    return WorkingHours.parse(value)


# Settings are parsed once, here: the rest of calsync gets values, never text to
# parse again. One duration grammar everywhere (timeutil.parse_duration).
Duration = Annotated[timedelta, PlainValidator(_duration), PlainSerializer(format_duration)]
PositiveDuration = Annotated[
    timedelta, PlainValidator(_positive_duration), PlainSerializer(format_duration)
]
CadenceSetting = Annotated[Cadence, PlainValidator(_cadence), PlainSerializer(lambda c: c.label)]
HoursSetting = Annotated[
    WorkingHours, PlainValidator(_working_hours), PlainSerializer(lambda h: h.text)
]


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


#: The name of an environment variable holding a secret (never the secret itself).
EnvName = Annotated[str, AfterValidator(_env_name)]


class ConfigError(Exception):
    """A configuration problem; ``str()`` is the message shown to the user."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IcsProvider(_Strict):
    kind: Literal["ics"]
    path: str = Field(description="a folder, a file, or an http(s) base URL")
    past_days: int = Field(default=400, ge=1, le=3650)
    future_days: int = Field(default=120, ge=1, le=3650)
    timeout: float = Field(default=30.0, gt=0)


def is_loopback_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


class GoogleProvider(_Strict):
    kind: Literal["google"]
    auth: Literal["oauth", "service_account", "none"] = "oauth"
    api_endpoint: str = Field(
        default="https://www.googleapis.com/",
        description="the API root; calsync adds calendar/v3/ and batch/calendar/v3",
    )
    client_secrets: str | None = Field(default=None, description="oauth: OAuth client JSON")
    token_file: str | None = Field(
        default=None, description="oauth: encrypted token (default: <provider name>.token)"
    )
    service_account_file: str | None = Field(
        default=None, description="service_account: key JSON with domain-wide delegation"
    )
    send_updates: Literal["all", "externalOnly", "none"] = "all"
    past_days: int = Field(default=400, ge=1, le=3650)
    future_days: int = Field(default=120, ge=1, le=3650)
    max_retries: int = Field(default=5, ge=0, le=10)
    timeout: float = Field(default=30.0, gt=0)
    max_concurrency: int = Field(
        default=8, ge=1, le=64, description="HTTP requests in flight at once (batches included)"
    )
    quota_per_minute: int | None = Field(
        default=None, ge=1,
        description="the project's queries per minute from the Cloud console (batch calls count)",
    )
    user_quota_per_minute: int | None = Field(
        default=None, ge=1, description="the per-user queries per minute from the Cloud console"
    )

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _auth(self) -> GoogleProvider:
        if self.auth == "none" and not is_loopback_url(self.api_endpoint):
            raise ValueError(
                f"auth = \"none\" is only for a local emulator; {self.api_endpoint} is not a "
                "loopback address (use auth = \"oauth\" or \"service_account\")"
            )
        if self.auth == "oauth" and not self.client_secrets:
            raise ValueError('auth = "oauth" needs client_secrets (the OAuth client JSON)')
        if self.auth == "service_account" and not self.service_account_file:
            raise ValueError('auth = "service_account" needs service_account_file')
        return self


class OutlookProvider(_Strict):
    kind: Literal["outlook"]
    auth: Literal["client_credentials", "device_code", "none"] = "client_credentials"
    tenant_id: str | None = Field(
        default=None, description="Entra tenant id or domain (contoso.onmicrosoft.com)"
    )
    client_id: str | None = Field(default=None, description="the app registration's client id")
    client_secret_env: EnvName | None = Field(
        default=None, description="client_credentials: environment variable with the secret"
    )
    certificate_file: str | None = Field(
        default=None, description="client_credentials: PEM (key + certificate) or .pfx file"
    )
    certificate_thumbprint: str | None = Field(
        default=None, description="SHA-1 thumbprint of the certificate (PEM only; optional)"
    )
    graph_endpoint: str = Field(
        default="https://graph.microsoft.com/v1.0", description="Graph's base URL, with /v1.0"
    )
    token_cache: str | None = Field(
        default=None, description="encrypted msal token cache (default: <provider name>.msal)"
    )
    past_days: int = Field(default=400, ge=1, le=3650)
    future_days: int = Field(default=120, ge=1, le=3650)
    max_retries: int = Field(default=5, ge=0, le=10)
    timeout: float = Field(default=30.0, gt=0)
    page_size: int = Field(default=200, ge=1, le=1000, description="Prefer: odata.maxpagesize")
    max_concurrency: int = Field(
        default=8, ge=1, le=64, description="HTTP requests in flight at once, all mailboxes"
    )
    mailbox_concurrency: int = Field(
        default=4, ge=1, le=4, description="requests in flight per mailbox (Graph allows 4)"
    )

    @field_validator("graph_endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")


    @model_validator(mode="after")
    def _auth(self) -> OutlookProvider:
        if self.auth == "none":
            if not is_loopback_url(self.graph_endpoint):
                raise ValueError(
                    f"auth = \"none\" is only for a local emulator; {self.graph_endpoint} is "
                    "not a loopback address (use auth = \"client_credentials\" or "
                    "\"device_code\")"
                )
            return self
        missing = [key for key in ("tenant_id", "client_id") if not getattr(self, key)]
        if missing:
            raise ValueError(f"auth = \"{self.auth}\" needs {' and '.join(missing)}")
        if self.auth == "client_credentials":
            if bool(self.client_secret_env) == bool(self.certificate_file):
                raise ValueError(
                    'auth = "client_credentials" needs exactly one of client_secret_env '
                    "(the name of an environment variable holding the secret) and "
                    "certificate_file"
                )
        elif self.client_secret_env or self.certificate_file:
            raise ValueError(
                'auth = "device_code" signs a person in: client_secret_env and '
                "certificate_file do not apply"
            )
        return self


class CaldavProvider(_Strict):
    """``kind = "caldav"``: any RFC 4791 server (Nextcloud, Fastmail, iCloud, Radicale...).

    The password comes from the environment variable named by ``password_env``
    (an app-specific password for iCloud and Fastmail), never from the file.
    A person's ``calendar`` is a calendar URL or a display name under the
    principal; without one, the principal's default calendar is read.
    """

    kind: Literal["caldav"]
    url: str = Field(description="the server's CalDAV root or the principal URL")
    username: str | None = Field(default=None, description="the login (often the email)")
    password_env: EnvName | None = Field(
        default=None, description="environment variable holding the (app-specific) password"
    )
    past_days: int = Field(default=400, ge=1, le=3650)
    future_days: int = Field(default=120, ge=1, le=3650)
    max_retries: int = Field(default=5, ge=0, le=10)
    timeout: float = Field(default=30.0, gt=0)
    multiget_size: int = Field(
        default=200, ge=1, le=5000, description="objects per calendar-multiget REPORT"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise ValueError(
                "passwords do not go in the config file: put it in an environment variable "
                "and name that variable in password_env"
            )
        return data

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


    @model_validator(mode="after")
    def _plain_http(self) -> CaldavProvider:
        if self.url.startswith("http://") and self.password_env and not is_loopback_url(self.url):
            raise ValueError(
                f"{self.url} is plain http: the password would cross the network in clear "
                "text (use https://)"
            )
        return self


ProviderSettings = Annotated[
    IcsProvider | GoogleProvider | OutlookProvider | CaldavProvider, Field(discriminator="kind")
]
PROVIDER_KINDS = "ics, google, outlook, caldav"


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'Europe/Berlin')") from None
    return value


def _holiday_region(value: str) -> str:
    """A ``holidays`` region: a country, or a country and its subdivision ("US-CA")."""
    region = value.strip().upper()
    problem = _region_problem(region)
    if problem:
        raise ValueError(f"{value!r}: {problem}")
    return region


@lru_cache(maxsize=512)
def _region_problem(region: str) -> str | None:
    # Imported here: the package takes a moment to load, and most configs never need it.
    import holidays

    country, _, subdivision = region.partition("-")
    try:
        known = holidays.country_holidays(country).subdivisions
    except NotImplementedError:
        return (f"unknown country {country!r} for public holidays (an ISO 3166 code with "
                "an optional subdivision, e.g. 'US', 'DE' or 'US-CA')")
    if subdivision and subdivision not in known:
        listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        return f"{country} has no subdivision {subdivision!r} (known: {listed or 'none'})"
    return None


class Person(_Strict):
    email: str
    name: str = ""
    timezone: str = "UTC"
    working_hours: HoursSetting = WorkingHours.parse("Mon-Fri 09:00-17:00")
    provider: str
    calendar: str | None = None
    # Public holidays of this region excuse a missed 1:1: "US", "US-CA", "DE-BY".
    holidays: str | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = normalize_email(value)
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _holiday_region(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _zone(value)

    @property
    def hours(self) -> WorkingHours:
        return self.working_hours

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def display(self) -> str:
        return self.name or self.email.split("@", 1)[0]

    @property
    def calendar_id(self) -> str:
        """The calendar to read at the provider: as configured, else the email."""
        return self.calendar or self.email


class PairSettings(_Strict):
    manager: str
    report: str
    cadence: CadenceSetting = Cadence(weeks=1)
    duration: PositiveDuration = timedelta(minutes=30)
    min_duration: PositiveDuration = timedelta(minutes=15)
    rebook: Literal["auto", "suggest", "off"] = "suggest"
    #: With no 1:1 series: propose a recurring slot ("suggest"), also create the
    #: series on the manager's calendar ("auto"), or say nothing more ("off").
    setup: Literal["auto", "suggest", "off"] = "suggest"
    title: str | None = Field(
        default=None, description="title of the 1:1 series, when the usual guesses miss it"
    )

    @field_validator("manager", "report")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    @model_validator(mode="after")
    def _consistent(self) -> PairSettings:
        if self.manager == self.report:
            raise ValueError("manager and report are the same person")
        if self.min_duration > self.duration:
            raise ValueError(
                f"min_duration {format_duration(self.min_duration)} is longer than "
                f"duration {format_duration(self.duration)}"
            )
        return self

    @property
    def key(self) -> str:
        return f"{self.manager}|{self.report}"



class EndedPair(_Strict):
    """A pair the directory ended (report left or changed manager): history, no more 1:1s.

    Not a config key: ``calsync.engine.roster`` adds these to the effective
    settings from the store, so ``check`` can show them as ended.
    """

    manager: str
    report: str
    ended: date
    reason: str = ""


# -- [directory]: people and pairs from the organisation's directory ----------------


class DirectoryScope(_Strict):
    """Which reports a source's pairs cover, and their defaults (``[[directory.sources.scopes]]``).

    One of ``root`` (with an optional ``depth``), ``org_units`` (Google) or
    ``groups`` (Microsoft 365); none of them means everyone. A report is in the
    first scope that covers them.
    """

    root: str | None = Field(default=None, description="a manager's email: their reports, and "
                             "theirs, down to depth levels")
    depth: int | None = Field(default=None, ge=1, le=50, description="levels under root "
                              "(default: all)")
    org_units: list[str] = Field(default_factory=list, description="google: org unit paths")
    groups: list[str] = Field(default_factory=list, description="graph: group ids or names")
    cadence: CadenceSetting = Cadence(weeks=1)
    duration: PositiveDuration = timedelta(minutes=30)
    min_duration: PositiveDuration = timedelta(minutes=15)
    rebook: Literal["auto", "suggest", "off"] = "suggest"
    setup: Literal["auto", "suggest", "off"] = Field(
        default="suggest", description="a new pair with no 1:1: create the series (auto)"
    )
    holidays: str | None = Field(
        default=None, description="public-holiday region of the reports it covers ('US-CA')"
    )

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str | None) -> str | None:
        return None if value is None else _holiday_region(value)

    @field_validator("root")
    @classmethod
    def _root(cls, value: str | None) -> str | None:
        return None if value is None else normalize_email(value)

    @field_validator("org_units")
    @classmethod
    def _units(cls, value: list[str]) -> list[str]:
        for unit in value:
            if not unit.startswith("/"):
                raise ValueError(f"{unit!r} is not an org unit path (e.g. '/Engineering')")
        return [unit.rstrip("/") or "/" for unit in value]

    @model_validator(mode="after")
    def _one_way(self) -> DirectoryScope:
        chosen = [k for k in ("root", "org_units", "groups") if getattr(self, k)]
        if len(chosen) > 1:
            raise ValueError(f"choose one of root, org_units and groups (got {', '.join(chosen)})")
        if self.depth is not None and self.root is None:
            raise ValueError("depth needs root (the manager the depth counts from)")
        if self.min_duration > self.duration:
            raise ValueError(
                f"min_duration {format_duration(self.min_duration)} is longer than "
                f"duration {format_duration(self.duration)}"
            )
        return self

    def pair_defaults(self) -> dict[str, Any]:
        return {"cadence": self.cadence, "duration": self.duration,
                "min_duration": self.min_duration, "rebook": self.rebook, "setup": self.setup}


class _DirectorySource(_Strict):
    kind: str  # each kind narrows it to its Literal (the union's discriminator)
    name: str | None = Field(default=None, description="default: the kind")
    provider: str = Field(description="the [providers.X] whose calendars these people use")
    timezone: str = Field(default="UTC", description="when the directory does not say")
    working_hours: HoursSetting = WorkingHours.parse("Mon-Fri 09:00-17:00")
    holidays: str | None = Field(
        default=None, description="public-holiday region of its people, unless a scope says"
    )
    scopes: list[DirectoryScope] = Field(default_factory=lambda: [DirectoryScope()])

    @field_validator("holidays")
    @classmethod
    def _source_holidays(cls, value: str | None) -> str | None:
        return None if value is None else _holiday_region(value)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _zone(value)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[DirectoryScope]) -> list[DirectoryScope]:
        if not value:
            raise ValueError("at least one scope (an empty [[...scopes]] table means everyone)")
        return value

    @property
    def label(self) -> str:
        return self.name or self.kind


class GraphDirectory(_DirectorySource):
    """``kind = "graph"``: Entra ID users and managers, with the provider's app credentials."""

    kind: Literal["graph"]


class GoogleDirectory(_DirectorySource):
    """``kind = "google"``: the Admin SDK Directory API, as ``admin`` (domain-wide delegation)."""

    kind: Literal["google"]
    admin: str | None = Field(default=None, description="a Workspace admin to impersonate")
    customer: str = Field(default="my_customer", description="the Workspace customer id")

    @field_validator("admin")
    @classmethod
    def _admin(cls, value: str | None) -> str | None:
        return None if value is None else normalize_email(value)


class CsvDirectory(_DirectorySource):
    """``kind = "csv"``: an HR export (email,name,manager_email,timezone,working_hours)."""

    kind: Literal["csv"]
    path: str = Field(description="the CSV file, relative to the config file")


DirectorySource = Annotated[
    GraphDirectory | GoogleDirectory | CsvDirectory, Field(discriminator="kind")
]
DIRECTORY_KINDS = "graph, google, csv"


class DirectorySettings(_Strict):
    """``[directory]``: where people and pairs come from besides ``[[people]]``/``[[pairs]]``."""

    sources: list[DirectorySource] = Field(default_factory=list)
    refresh: PositiveDuration = Field(default=timedelta(days=1),
                                      description="how often the daemon reads the sources")


_K_OF_N = re.compile(r"^\s*(\d+)\s+of\s+(\d+)\s*$")


def _k_of_n(value: Any) -> tuple[int, int]:
    if isinstance(value, tuple):
        k, n = value
    else:
        match = _K_OF_N.match(value) if isinstance(value, str) else None
        if not match:
            raise ValueError(f"{value!r} is not of the form 'K of N' (e.g. '2 of 4')")
        k, n = int(match[1]), int(match[2])
    if not 1 <= k <= n <= 52:
        raise ValueError(f"'{k} of {n}': need 1 <= K <= N <= 52")
    return k, n


KOfN = Annotated[
    tuple[int, int], PlainValidator(_k_of_n), PlainSerializer(lambda v: f"{v[0]} of {v[1]}")
]


class PolicySettings(_Strict):
    cancellations: KOfN = (2, 4)
    max_gap: float = Field(default=1.5, gt=1.0, le=20.0)
    streak: int = Field(default=2, ge=2, le=52, description="consecutive misses that flag")
    shortening: KOfN = Field(default=(3, 6), description="k of the last n held were shortened")
    horizon_periods: int = Field(default=12, ge=4, le=104, description="history window")


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ReportSettings(_Strict):
    """``[report]``: when each manager's weekly email goes out, and from whom."""

    send_day: str = Field(default="monday", description="weekday, in each manager's zone")
    send_time: str = Field(default="08:00", description="HH:MM, in each manager's zone")
    from_address: str | None = Field(
        default=None, description="'calsync <calsync@example.com>'; required with [smtp]"
    )

    @field_validator("send_day")
    @classmethod
    def _day(cls, value: str) -> str:
        day = value.strip().lower()
        for name in _WEEKDAYS:
            if len(day) >= 3 and name.startswith(day):
                return name
        raise ValueError(f"{value!r} is not a weekday (e.g. 'monday' or 'Mon')")

    @field_validator("send_time")
    @classmethod
    def _time(cls, value: str) -> str:
        match = _CLOCK.match(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a time of day as HH:MM (e.g. '08:00')")
        return f"{int(match[1]):02d}:{match[2]}"

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _, address = parseaddr(value)
        if not re.fullmatch(r"[^@\s]+@[^@\s]+", address):
            raise ValueError(f"{value!r} is not an address (e.g. 'calsync <calsync@example.com>')")
        return value.strip()

    @property
    def weekday(self) -> int:
        """0 = Monday."""
        return _WEEKDAYS.index(self.send_day)

    @property
    def clock(self) -> time:
        hours, minutes = self.send_time.split(":")
        return time(int(hours), int(minutes))


class SmtpSettings(_Strict):
    """``[smtp]``: the relay the weekly emails go through. The password is never in the file."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535, description="465 ssl, 587 starttls")
    starttls: bool = True
    ssl: bool = False
    user: str | None = None
    password_env: EnvName = "CALSYNC_SMTP_PASSWORD"
    timeout: float = Field(default=30.0, gt=0)
    ca_file: str | None = Field(
        default=None, description="a PEM file of CAs to trust instead of the system's"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_password(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password" in data:
            raise _KeyedError(
                ("smtp", "password"),
                "passwords do not go in the config file: put it in an environment variable "
                "and name that variable in password_env (default CALSYNC_SMTP_PASSWORD)",
            )
        return data


    @model_validator(mode="after")
    def _modes(self) -> SmtpSettings:
        if self.ssl and self.starttls:
            raise ValueError(
                "choose one of ssl (TLS from the first byte, usually port 465) and "
                "starttls (upgrade after connecting, usually port 587): set starttls = false"
            )
        return self

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 465 if self.ssl else 587 if self.starttls else 25


_TEMPLATE_FIELDS = {"manager", "report", "pair", "manager_name", "report_name"}


class AgendaSettings(_Strict):
    url_template: str | None = Field(
        default=None,
        description="the pair's shared agenda, e.g. https://docs.example.com/1on1/{pair}",
    )

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name}
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a template ({exc})") from None
        unknown = fields - _TEMPLATE_FIELDS
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{sorted(unknown)[0]}}} "
                f"(known: {', '.join('{' + f + '}' for f in sorted(_TEMPLATE_FIELDS))})"
            )
        if not re.match(r"^https?://", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value


MIN_POLL_INTERVAL = timedelta(seconds=10)


class DaemonSettings(_Strict):
    poll_interval: Duration = Field(default=timedelta(minutes=5), description="between cycles")
    jitter: float = Field(default=0.1, ge=0, le=0.5, description="+/- share of poll_interval")
    listen: str = Field(
        default="127.0.0.1:8787", description="host:port of /healthz, /metrics and push"
    )
    public_url: str | None = Field(
        default=None, description="https URL where Google and Microsoft reach the push endpoint"
    )
    rebook_lookback: Duration = Field(
        default=timedelta(days=1), description="how long after a bump to still act"
    )
    buffer: Duration = Field(
        default=timedelta(minutes=10), description="free time kept around other meetings"
    )
    dry_run: bool = Field(
        default=False,
        description="plan and record every write in the audit log without writing",
    )
    push_coalesce: Duration = Field(
        default=timedelta(seconds=5),
        description="after a push, wait this long so a burst of them is one sync",
    )
    lease_ttl: Duration | None = Field(
        default=None,
        description="several workers: a share outlives its worker's last heartbeat this long "
        "(default: three poll intervals)",
    )

    @field_validator("poll_interval")
    @classmethod
    def _not_a_busy_loop(cls, value: timedelta) -> timedelta:
        if value < MIN_POLL_INTERVAL:
            raise ValueError(
                f"{format_duration(value)} would poll every calendar in a tight loop; "
                f"at least {format_duration(MIN_POLL_INTERVAL)} (push makes changes fast)"
            )
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port (e.g. 127.0.0.1:8787)")
        return value


_MS_SHARED_TENANTS = {"common", "organizations", "consumers"}


class OidcSettings(_Strict):
    """``[web.oidc]``: sign in with Google or Microsoft (OpenID Connect). No secret in the file."""

    kind: Literal["google", "microsoft", "oidc"]
    client_id: str = Field(min_length=1)
    client_secret_env: EnvName = Field(
        default="CALSYNC_OIDC_CLIENT_SECRET",
        description="the environment variable holding the client secret",
    )
    tenant: str | None = Field(
        default=None, description="microsoft: the directory (tenant) id or a verified domain"
    )
    discovery_url: str | None = Field(
        default=None, description="kind 'oidc': the provider's .well-known/openid-configuration"
    )
    label: str | None = Field(default=None, description="the button says 'Sign in with LABEL'")

    @model_validator(mode="before")
    @classmethod
    def _no_secret(cls, data: Any) -> Any:
        if isinstance(data, dict) and "client_secret" in data:
            raise _KeyedError(
                ("web", "oidc", "client_secret"),
                "secrets do not go in the config file: put the client secret in an environment "
                "variable and name it in client_secret_env (default CALSYNC_OIDC_CLIENT_SECRET)",
            )
        return data


    @field_validator("discovery_url")
    @classmethod
    def _discovery(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @model_validator(mode="after")
    def _kind(self) -> OidcSettings:
        if self.kind == "microsoft":
            if not self.tenant:
                raise ValueError("kind 'microsoft' needs tenant: your directory (tenant) id "
                                 "or a verified domain such as contoso.com")
            if self.tenant.lower() in _MS_SHARED_TENANTS:
                raise ValueError(f"tenant {self.tenant!r} accepts accounts of any organisation: "
                                 "use your own directory (tenant) id or domain")
        if self.kind == "oidc" and not self.discovery_url:
            raise ValueError("kind 'oidc' needs discovery_url "
                             "(https://…/.well-known/openid-configuration)")
        return self

    def metadata_url(self) -> str:
        """Where the provider's OpenID configuration is read from."""
        if self.discovery_url:
            return self.discovery_url
        if self.kind == "google":
            return "https://accounts.google.com/.well-known/openid-configuration"
        return (f"https://login.microsoftonline.com/{self.tenant}"
                "/v2.0/.well-known/openid-configuration")

    def display(self) -> str:
        return self.label or {"google": "Google", "microsoft": "Microsoft"}.get(
            self.kind, "single sign-on")


class WebSettings(_Strict):
    """``[web]``: the 1:1 pages, sign-in and the JSON API (``calsync run`` / ``serve``)."""

    public_url: str | None = Field(
        default=None, description="where people reach calsync, e.g. https://calsync.example.com"
    )
    listen: str | None = Field(default=None, description="host:port (default: [daemon] listen)")
    admins: list[str] = Field(default_factory=list, description="emails that see every pair")
    email_signin: bool = Field(default=True, description="one-time sign-in links by email")
    session_lifetime: PositiveDuration = Field(default=timedelta(days=14), description="how long a "
                                       "sign-in lasts")
    oidc: OidcSettings | None = Field(default=None, description="sign in with Google or Microsoft")
    nudge: PositiveDuration | None = Field(
        default=None, description="email both people this long before each 1:1 (off when unset)"
    )
    nudge_empty: PositiveDuration | None = Field(
        default=None, description="remind both people this long before a 1:1 whose agenda "
        "is still empty (off when unset)"
    )

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not re.match(r"^https?://[^/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str | None) -> str | None:
        return None if value is None else DaemonSettings._listen(value)

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: list[str]) -> list[str]:
        for email in value:
            if "@" not in email:
                raise ValueError(f"{email!r} is not an email address")
        return [normalize_email(email) for email in value]


class Settings(_Strict):
    database: str = "sqlite:///calsync.db"
    secret_key_file: str = Field(
        default="calsync.key",
        description="key that encrypts stored tokens; $CALSYNC_SECRET_KEY overrides",
    )
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    people: list[Person] = Field(default_factory=list)
    pairs: list[PairSettings] = Field(default_factory=list)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    smtp: SmtpSettings | None = None
    agenda: AgendaSettings = Field(default_factory=AgendaSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    directory: DirectorySettings = Field(default_factory=DirectorySettings)

    # Pairs the directory ended (not a config key: see calsync.engine.roster).
    ended_pairs: tuple[EndedPair, ...] = Field(default=(), exclude=True)
    # Where the file was read from: relative paths resolve against it.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        seen: dict[str, int] = {}
        for index, person in enumerate(self.people):
            if person.email in seen:
                raise _KeyedError(
                    ("people", index, "email"),
                    f"{person.email} is listed twice (also people[{seen[person.email]}])",
                )
            seen[person.email] = index
            if person.provider not in self.providers:
                known = ", ".join(sorted(self.providers)) or "none defined"
                raise _KeyedError(
                    ("people", index, "provider"),
                    f"no provider named {person.provider!r} (known: {known})",
                )
        pair_seen: dict[str, int] = {}
        for index, pair in enumerate(self.pairs):
            for role in ("manager", "report"):
                email = getattr(pair, role)
                # With a directory, a pair may override one it gives (engine.roster checks).
                if email not in seen and not self.directory.sources:
                    raise _KeyedError(
                        ("pairs", index, role), f"{email} is not listed under [[people]]"
                    )
            if pair.key in pair_seen:
                raise _KeyedError(
                    ("pairs", index), f"the pair {pair.manager} / {pair.report} is listed twice"
                )
            pair_seen[pair.key] = index
        self._directory_references()
        if self.smtp is not None and self.report.from_address is None:
            raise _KeyedError(
                ("report", "from_address"),
                # No square brackets: the CLI prints config errors as rich markup.
                "required when the smtp section is configured "
                "(e.g. 'calsync <calsync@example.com>')",
            )
        return self

    def _directory_references(self) -> None:
        kinds = {"graph": OutlookProvider, "google": GoogleProvider}
        names: dict[str, int] = {}
        for index, source in enumerate(self.directory.sources):
            where: tuple[str | int, ...] = ("directory", "sources", index)
            if source.label in names:
                raise _KeyedError((*where, "name"), f"two sources are named {source.label!r} "
                                  f"(also directory.sources[{names[source.label]}]): name them")
            names[source.label] = index
            provider = self.providers.get(source.provider)
            if provider is None:
                known = ", ".join(sorted(self.providers)) or "none defined"
                raise _KeyedError((*where, "provider"),
                                  f"no provider named {source.provider!r} (known: {known})")
            wanted = kinds.get(source.kind)
            if wanted is not None and not isinstance(provider, wanted):
                need = "outlook" if source.kind == "graph" else "google"
                raise _KeyedError((*where, "provider"), f"kind {source.kind!r} reads the "
                                  f"directory with the credentials of an {need} provider; "
                                  f"{source.provider!r} is {provider.kind!r}")
            if isinstance(provider, OutlookProvider) and provider.auth == "device_code":
                raise _KeyedError((*where, "provider"), "the directory is read with the app's "
                                  "own permissions: give the source an outlook provider with "
                                  "auth = \"client_credentials\"")
            if (isinstance(source, GoogleDirectory) and isinstance(provider, GoogleProvider)
                    and provider.auth == "oauth"):
                raise _KeyedError((*where, "provider"), "the Admin SDK is read by a service "
                                  "account with domain-wide delegation: give the source a "
                                  "google provider with auth = \"service_account\"")
            if (isinstance(source, GoogleDirectory) and isinstance(provider, GoogleProvider)
                    and provider.auth == "service_account" and not source.admin):
                raise _KeyedError((*where, "admin"), "the Admin SDK is read as a Workspace "
                                  "admin: name the admin the service account impersonates")
            for number, scope in enumerate(source.scopes):
                if scope.org_units and source.kind != "google":
                    raise _KeyedError((*where, "scopes", number, "org_units"),
                                      "org units are Google Workspace's (kind = \"google\")")
                if scope.groups and source.kind != "graph":
                    raise _KeyedError((*where, "scopes", number, "groups"),
                                      "groups are Microsoft 365's (kind = \"graph\")")

    def person(self, email: str) -> Person:
        email = normalize_email(email)
        for person in self.people:
            if person.email == email:
                return person
        raise KeyError(email)

    def path(self, value: str) -> Path:
        """A path from the config, resolved against the config file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the config file."""
        prefix = "sqlite:///"
        url = self.database
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            path = Path(url[len(prefix) :])
            if not path.is_absolute():
                return prefix + str((self.base_dir / path).resolve())
        return url


class _KeyedError(ValueError):
    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _describe(error: dict[str, Any], data: dict[str, Any]) -> tuple[str, str]:
    loc = list(error["loc"])
    # Drop pydantic's discriminator tag from the path ("providers.feeds.ics.path").
    if len(loc) >= 3 and loc[0] == "providers" and isinstance(loc[2], str):
        provider = data.get("providers", {}).get(loc[1], {})
        if isinstance(provider, dict) and provider.get("kind") == loc[2]:
            del loc[2]
    if len(loc) >= 4 and loc[:2] == ["directory", "sources"] and loc[3] in ("graph", "google",
                                                                             "csv"):
        del loc[3]  # the same tag, in [[directory.sources]]
    kinds = DIRECTORY_KINDS if loc[:2] == ["directory", "sources"] else PROVIDER_KINDS
    kind = error["type"]
    message = str(error["msg"])
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "union_tag_invalid":
        tag = (error.get("ctx") or {}).get("tag")
        loc.append("kind")
        what = "directory source" if kinds == DIRECTORY_KINDS else "provider"
        message = f"unknown {what} kind {tag!r} (supported: {kinds})"
    elif kind == "union_tag_not_found":
        message = f"'kind' is missing (supported: {kinds})"
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return _format_loc(tuple(loc)), message


def load_settings(path: str | Path) -> Settings:
    """Read and validate a config file; raise ConfigError naming the place."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return settings_from_dict(data, source=path)


def settings_from_dict(data: dict[str, Any], source: Path) -> Settings:
    for computed in ("base_dir", "ended_pairs"):
        if computed in data:
            raise ConfigError(f"{source}: {computed}: unknown key")
    try:
        return Settings.model_validate({**data, "base_dir": source.resolve().parent})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            ctx_error = (error.get("ctx") or {}).get("error")
            if isinstance(ctx_error, _KeyedError):
                problems.append(f"{source}: {_format_loc(ctx_error.loc)}: {ctx_error.message}")
                continue
            where, message = _describe(error, data)
            problems.append(f"{source}: {where}: {message}")
        raise ConfigError("\n".join(dict.fromkeys(problems))) from None


__all__ = [
    "CaldavProvider",
    "ConfigError",
    "CsvDirectory",
    "DirectoryScope",
    "DirectorySettings",
    "EndedPair",
    "GoogleDirectory",
    "GoogleProvider",
    "GraphDirectory",
    "IcsProvider",
    "OutlookProvider",
    "PairSettings",
    "Person",
    "PolicySettings",
    "ProviderSettings",
    "ReportSettings",
    "Settings",
    "SmtpSettings",
    "load_settings",
]
