"""Push channels: ``events.watch``, ``channels.stop`` and the messages they send.

:class:`Channels` keeps the channels of one emulator. ``watch`` checks the
channel (id unique and at most 64 characters, ``web_hook``, an HTTPS address or
plain HTTP on loopback, ``params.ttl``) and answers with a ``sync`` message;
after each write to a calendar every live channel on it gets an ``exists``
message with Google's ``X-Goog-*`` headers. Messages go to ``listener`` (the
HTTP layer delivers them); expired channels are dropped.
"""

from __future__ import annotations

import email.utils
import hashlib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from calsync_emulators.google_errors import (
    ApiError,
    Json,
    bad_request,
    invalid,
    not_found,
    required,
)
from calsync_emulators.google_model import Calendar, b64
from calsync_emulators.google_store import Store

#: events.watch: channel lifetime when ``params.ttl`` is absent (7 days).
CHANNEL_DEFAULT_TTL_SECONDS = 604800
CHANNEL_ID_MAX = 64
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(slots=True)
class Channel:
    """One watch channel: where its messages go, until when, how many were sent."""

    id: str
    resource_id: str
    resource_uri: str
    calendar_id: str
    address: str
    token: str | None
    expiration: datetime
    messages: int = 0

    def body(self) -> Json:
        out: Json = {
            "kind": "api#channel",
            "id": self.id,
            "resourceId": self.resource_id,
            "resourceUri": self.resource_uri,
        }
        if self.token is not None:
            out["token"] = self.token
        out["expiration"] = str(int(self.expiration.timestamp() * 1000))
        return out


@dataclass(frozen=True, slots=True)
class Notification:
    """One push message to deliver: POST ``address`` with these headers, empty body."""

    channel_id: str
    address: str
    headers: Mapping[str, str]


def _is_loopback(address: str) -> bool:
    host = urllib.parse.urlsplit(address).hostname or ""
    return host in _LOOPBACK


class Channels:
    """The push channels of one emulator (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: Base of ``resourceUri`` in watch channels (the HTTP layer sets its own URL).
        self.base_url = "https://www.googleapis.com/"
        #: Called (under the lock) with the push messages a change produced.
        self.listener: Callable[[list[Notification]], None] | None = None
        self._channels: dict[str, Channel] = {}

    @staticmethod
    def _resource_id(cal: Calendar) -> str:
        digest = hashlib.sha256(f"events:{cal.id}".encode()).digest()
        return b64(digest)[:27]

    def watch(self, calendar_id: str, body: Json) -> Json:
        cal = self.store.calendar(calendar_id)
        if not isinstance(body, dict):
            raise bad_request()
        channel_id = body.get("id")
        if not channel_id or not isinstance(channel_id, str):
            raise required("Missing channel id.")
        if len(channel_id) > CHANNEL_ID_MAX:
            raise invalid("Channel id must be at most 64 characters.")
        if body.get("type") not in ("web_hook", "webhook"):
            raise invalid(f"Invalid channel type: {body.get('type')}")
        address = body.get("address")
        if not address or not isinstance(address, str):
            raise required("Missing channel address.")
        scheme = urllib.parse.urlsplit(address).scheme.lower()
        if scheme != "https" and not (scheme == "http" and _is_loopback(address)):
            raise ApiError(
                400, "push.webhookUrlNotHttps", f"WebHook callback must be HTTPS: {address}"
            )
        self._expire()
        if channel_id in self._channels:
            raise ApiError(400, "channelIdNotUnique", "Channel id not unique")
        ttl = (body.get("params") or {}).get("ttl", CHANNEL_DEFAULT_TTL_SECONDS)
        try:
            ttl_seconds = int(ttl)
        except (TypeError, ValueError):
            raise invalid(f"Invalid value for: params.ttl ({ttl})") from None
        token = body.get("token")
        channel = Channel(
            id=channel_id,
            resource_id=self._resource_id(cal),
            resource_uri=(
                f"{self.base_url}calendar/v3/calendars/"
                f"{urllib.parse.quote(cal.id, safe='@')}/events?alt=json"
            ),
            calendar_id=cal.id,
            address=address,
            token=str(token) if token is not None else None,
            expiration=self.store.now() + timedelta(seconds=ttl_seconds),
        )
        self._channels[channel_id] = channel
        self._emit([self._message(channel, "sync")])
        return channel.body()

    def stop(self, body: Json) -> None:
        if not isinstance(body, dict):
            raise bad_request()
        channel = self._channels.get(str(body.get("id", "")))
        if channel is None or channel.resource_id != body.get("resourceId"):
            raise not_found()
        del self._channels[channel.id]

    def active(self) -> list[Json]:
        self._expire()
        return [ch.body() | {"address": ch.address} for ch in self._channels.values()]

    def changed(self, cal: Calendar) -> None:
        self._expire()
        messages = [
            self._message(channel, "exists")
            for channel in self._channels.values()
            if channel.calendar_id == cal.id
        ]
        self._emit(messages)

    def _expire(self) -> None:
        now = self.store.now()
        for key in [k for k, ch in self._channels.items() if ch.expiration <= now]:
            del self._channels[key]

    def _message(self, channel: Channel, state: str) -> Notification:
        channel.messages += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": email.utils.format_datetime(
                channel.expiration.astimezone(UTC), usegmt=True
            ),
            "X-Goog-Message-Number": str(channel.messages),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-State": state,
            "X-Goog-Resource-URI": channel.resource_uri,
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        return Notification(channel.id, channel.address, headers)

    def _emit(self, messages: list[Notification]) -> None:
        if messages and self.listener is not None:
            self.listener(messages)
