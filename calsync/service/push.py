"""Google Calendar push channels: open one per calendar, renew before expiry.

A channel (``events.watch``) makes Google POST to
``<public_url>/push/google`` whenever the calendar changes; the daemon's
:class:`~calsync.service.http.DaemonServer` verifies the channel token and
syncs that calendar at once. Polling stays the backstop: Google does not
guarantee delivery (shared/provider-facts.md 1.7).

Google never renews a channel. :meth:`GoogleChannels.ensure`, called once per
daemon cycle, opens a channel for every calendar without one and replaces any
that expires within ``renew_before``: the new, overlapping channel is opened
FIRST and only then is the old one stopped, so no change falls in a gap.

Channels are kept in memory only. After a restart calsync simply opens new
ones; the old channels expire by themselves (7 days at most) and their
notifications still carry a valid token, so they just trigger a harmless extra
sync until then.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from calsync.config import is_loopback_url
from calsync.providers.base import ChannelWatcher, ProviderError, Subscriber
from calsync.service.push_tokens import GOOGLE, OUTLOOK, mint_token

__all__ = ["Channel", "GoogleChannels", "GraphSubscriptions", "push_address"]

log = logging.getLogger(__name__)

#: Google's default and usual maximum channel lifetime.
DEFAULT_TTL = timedelta(days=7)
DEFAULT_RENEW_BEFORE = timedelta(days=1)
#: A token outlives its channel by this much: notifications already in flight
#: when the channel ends still verify.
TOKEN_SLACK = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Channel:
    """One open push channel."""

    calendar: str
    id: str
    resource_id: str
    expiration: datetime


_PUSH_SENDERS = {"google": "Google", "graph": "Microsoft Graph"}


def push_address(public_url: str, kind: str = "google") -> str:
    """``<public_url>/push/<kind>``; https required except plain http on loopback.

    ``kind`` is ``google`` or ``graph``. Raises ValueError with a message meant
    for the user, naming the service that needs HTTPS.
    """
    sender = _PUSH_SENDERS[kind]
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"public_url {public_url!r} is not an http(s) URL")
    if parts.query or parts.fragment:
        raise ValueError(f"public_url {public_url!r} must not have a query or fragment")
    if parts.scheme == "http" and not is_loopback_url(public_url):
        raise ValueError(
            f"public_url {public_url!r}: {sender} delivers push notifications only over HTTPS "
            "(with a certificate from a trusted CA); put calsync behind a TLS reverse proxy "
            "and use its https:// URL (plain http is only for a local emulator)"
        )
    return public_url.rstrip("/") + f"/push/{kind}"


class GoogleChannels:
    """The push channels of one Google provider, kept open by :meth:`ensure`."""

    def __init__(
        self,
        reader: ChannelWatcher,
        public_url: str,
        secret: bytes,
        ttl: timedelta = DEFAULT_TTL,
        renew_before: timedelta = DEFAULT_RENEW_BEFORE,
    ) -> None:
        if not secret:
            raise ValueError("the push secret is empty")
        if ttl <= renew_before or renew_before < timedelta(0):
            raise ValueError(f"ttl {ttl} must be longer than renew_before {renew_before}")
        self.reader = reader
        self.address = push_address(public_url)
        self.secret = secret
        self.ttl = ttl
        self.renew_before = renew_before
        self._open: dict[str, Channel] = {}

    @property
    def channels(self) -> dict[str, Channel]:
        """The open channels by calendar (a copy)."""
        return dict(self._open)

    def ensure(self, calendars: Iterable[str], now: datetime) -> list[str]:
        """Open or renew a channel for each of ``calendars``; stop those of other calendars.

        Pass the provider's complete calendar list every time: a calendar that
        is no longer listed has its channel stopped. Returns one problem per
        calendar that has no working channel (never raises for a provider
        error); those calendars stay on polling.
        """
        wanted = list(dict.fromkeys(calendars))
        problems: list[str] = []
        for calendar in [c for c in self._open if c not in wanted]:
            self._stop(self._open.pop(calendar))
        for calendar in wanted:
            current = self._open.get(calendar)
            if current is not None and current.expiration - now > self.renew_before:
                continue
            problem = self._open_channel(calendar, current, now)
            if problem:
                problems.append(problem)
        return problems

    def stop_all(self) -> None:
        """Stop every open channel (on shutdown); failures are logged, not raised."""
        while self._open:
            _, channel = self._open.popitem()
            self._stop(channel)

    # -- internals --------------------------------------------------------------
    def _open_channel(self, calendar: str, current: Channel | None, now: datetime) -> str | None:
        try:
            token = mint_token(self.secret, GOOGLE, calendar,
                               expires=now + self.ttl + TOKEN_SLACK)
        except ValueError as exc:
            return f"google {calendar}: no push channel: {exc}"
        try:
            body = self.reader.watch(calendar, self.address, token, self.ttl)
            channel = _channel(calendar, body, now + self.ttl)
        except (ProviderError, ValueError) as exc:
            where = "renew" if current else "open"
            still = (
                f"; the current channel expires {current.expiration.isoformat()}"
                if current and current.expiration > now
                else "; polling only"
            )
            return f"google {calendar}: cannot {where} the push channel: {exc}{still}"
        self._open[calendar] = channel
        if current is None:
            log.info("google %s: push channel open until %s", calendar, channel.expiration)
        else:
            log.info("google %s: push channel renewed until %s", calendar, channel.expiration)
            self._stop(current)
        return None

    def _stop(self, channel: Channel) -> None:
        try:
            self.reader.stop_channel(channel.calendar, channel.id, channel.resource_id)
        except ProviderError as exc:
            # Not a problem for the calendar: the channel expires by itself, and
            # its notifications only trigger a harmless sync until then.
            log.warning("google %s: could not stop an old push channel: %s", channel.calendar, exc)


def _channel(calendar: str, body: dict[str, Any], fallback: datetime) -> Channel:
    """The ``api#channel`` answer of events.watch (``expiration`` in epoch milliseconds)."""
    channel_id, resource_id = body.get("id"), body.get("resourceId")
    if not isinstance(channel_id, str) or not isinstance(resource_id, str):
        raise ValueError("events.watch answered without a channel id or resourceId")
    raw = body.get("expiration")
    try:
        expiration = datetime.fromtimestamp(int(raw) / 1000, UTC) if raw else fallback
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"events.watch answered an unreadable expiration {raw!r}") from None
    return Channel(calendar, channel_id, resource_id, expiration)


# Graph keeps subscriptions on events for at most 10,080 minutes; ask a little less.
GRAPH_LIFETIME = timedelta(minutes=10_000)


@dataclass(frozen=True, slots=True)
class Subscription:
    calendar: str
    id: str
    expiration: datetime


class GraphSubscriptions:
    """The change-notification subscriptions of one Microsoft 365 provider.

    Graph could extend a subscription with a PATCH, but the clientState (the
    push token, which expires) cannot change that way: calsync rotates instead,
    a new subscription first and then the old one deleted, as with Google's
    channels. Kept in memory: after a restart new ones are made and the old
    ones expire.
    """

    def __init__(
        self,
        reader: Subscriber,
        public_url: str,
        secret: bytes,
        lifetime: timedelta = GRAPH_LIFETIME,
        renew_before: timedelta = DEFAULT_RENEW_BEFORE,
    ) -> None:
        if not secret:
            raise ValueError("the push secret is empty")
        self.reader = reader
        self.address = push_address(public_url, "graph")
        self.secret = secret
        self.lifetime = lifetime
        self.renew_before = renew_before
        self._open: dict[str, Subscription] = {}

    @property
    def subscriptions(self) -> dict[str, Subscription]:
        return dict(self._open)

    def ensure(self, calendars: Iterable[str], now: datetime) -> list[str]:
        """Create or rotate a subscription per calendar; delete those of other calendars."""
        wanted = list(dict.fromkeys(calendars))
        problems: list[str] = []
        for calendar in [c for c in self._open if c not in wanted]:
            self._delete(self._open.pop(calendar))
        for calendar in wanted:
            current = self._open.get(calendar)
            if current is not None and current.expiration - now > self.renew_before:
                continue
            expires = now + self.lifetime
            try:
                # Rotated, not extended: the new subscription carries a new
                # clientState that expires with it; the old one is deleted after.
                state = mint_token(self.secret, OUTLOOK, calendar, expires=expires + TOKEN_SLACK)
                body = self.reader.subscribe(calendar, self.address, state, expires)
                self._open[calendar] = Subscription(calendar, str(body["id"]), expires)
                log.info("outlook %s: change notifications until %s", calendar, expires)
            except (ProviderError, ValueError, KeyError) as exc:
                still = (f"; the current subscription runs until {current.expiration.isoformat()}"
                         if current is not None and current.expiration > now else "; polling only")
                problems.append(f"outlook {calendar}: no change notifications: {exc}{still}")
                continue
            if current is not None:
                self._delete(current)
        return problems

    def stop_all(self) -> None:
        while self._open:
            _, subscription = self._open.popitem()
            self._delete(subscription)

    def _delete(self, subscription: Subscription) -> None:
        try:
            self.reader.delete_subscription(subscription.calendar, subscription.id)
        except ProviderError as exc:
            log.warning("outlook %s: could not delete a subscription: %s",
                        subscription.calendar, exc)
