"""Change-notification subscriptions of the Graph emulator (webhooks).

``POST /subscriptions`` is validated like Graph does it (shared/provider-facts.md
section 2.6): the emulator POSTs ``notificationUrl?validationToken=<token>``
with a token that contains spaces and colons, URL-encoded, and creates the
subscription only if the endpoint answers ``200`` with ``text/plain`` and the
*decoded* token within 10 seconds (else ``400``; the lifecycle URL is checked
the same way). Changes to events of the subscribed mailbox are then POSTed as
``{"value": [changeNotification]}`` from a background thread, in order.

Chosen where Graph is silent: one change per POST; a failed delivery is
recorded (``emu.deliveries``) and not retried; ``notificationUrl`` must be
https except plain http on loopback; expired subscriptions stop notifying and
read as not found.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from queue import Queue
from typing import Any

from calsync_emulators.graph_errors import GraphError
from calsync_emulators.graph_model import Change
from calsync_emulators.graph_times import format_timestamp, parse_instant

Json = dict[str, Any]
log = logging.getLogger(__name__)

#: The longest subscription on events: 10080 minutes (under 7 days).
MAX_EXPIRATION = timedelta(minutes=10080)
#: How long the notification endpoint has to echo the validation token.
VALIDATION_TIMEOUT_SECONDS = 10.0
#: How long one notification POST may take before it is recorded as failed.
DELIVERY_TIMEOUT_SECONDS = 3.0
CLIENT_STATE_MAX = 128
_CHANGE_TYPES = ("created", "updated", "deleted")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_RESOURCE = re.compile(r"^/?(?:(me)|users/([^/]+))(?:/calendar)?/events/?$", re.IGNORECASE)


def invalid_subscription(message: str) -> GraphError:
    return GraphError(400, "InvalidRequest", message)


@dataclass(slots=True)
class Subscription:
    id: str
    resource: str
    mailbox: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    application_id: str
    creator_id: str

    def body(self, base_url: str) -> Json:
        return {
            "@odata.context": f"{base_url}/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": format_timestamp(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": None,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One change notification the emulator tried to deliver."""

    subscription_id: str
    url: str
    payload: Json
    status: int | None
    error: str | None = None


def _check_url(url: object, name: str) -> str:
    if not isinstance(url, str) or not url:
        raise invalid_subscription(f"{name} is required.")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        return url
    raise invalid_subscription(f"The {name} '{url}' is not valid: it must use https.")


def parse_expiration(value: object, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise invalid_subscription("expirationDateTime is required.")
    try:
        expiration = parse_instant(value)
    except ValueError:
        raise invalid_subscription(f"Invalid expirationDateTime '{value}'.") from None
    if expiration <= now:
        raise invalid_subscription("Subscription expiration must be in the future.")
    if expiration > now + MAX_EXPIRATION:
        minutes = int(MAX_EXPIRATION.total_seconds() // 60)
        raise invalid_subscription(
            f"Subscription expiration can only be {minutes} minutes in the future."
        )
    return expiration


def parse_subscription(
    body: object, now: datetime, resolve_user: Callable[[str | None], str]
) -> tuple[Json, str]:
    """Validate a POST /subscriptions body: (normalized fields, mailbox upn)."""
    if not isinstance(body, dict):
        raise invalid_subscription("The request body must be a JSON object.")
    change_types = [c.strip() for c in str(body.get("changeType") or "").split(",") if c.strip()]
    if not change_types or any(c not in _CHANGE_TYPES for c in change_types):
        raise invalid_subscription(
            f"Invalid changeType '{body.get('changeType')}'; use created, updated and/or deleted."
        )
    resource = body.get("resource")
    match = _RESOURCE.match(str(resource or ""))
    if not match:
        raise invalid_subscription(f"The resource '{resource}' is not supported.")
    mailbox = resolve_user(None if match[1] else urllib.parse.unquote(match[2]))
    client_state = body.get("clientState")
    if client_state is not None and len(str(client_state)) > CLIENT_STATE_MAX:
        raise invalid_subscription(
            f"clientState must be at most {CLIENT_STATE_MAX} characters long."
        )
    fields = {
        "resource": str(resource),
        "change_types": tuple(change_types),
        "notification_url": _check_url(body.get("notificationUrl"), "notificationUrl"),
        "lifecycle_url": (
            _check_url(body["lifecycleNotificationUrl"], "lifecycleNotificationUrl")
            if body.get("lifecycleNotificationUrl")
            else None
        ),
        "client_state": None if client_state is None else str(client_state),
        "expiration": parse_expiration(body.get("expirationDateTime"), now),
    }
    return fields, mailbox


def _post(
    url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, str, str]:
    """POST and return (status, content type, text); raises OSError/HTTPException."""
    parts = urllib.parse.urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        data = response.read()
        content_type = response.getheader("Content-Type") or ""
    finally:
        connection.close()
    return response.status, content_type, data.decode("utf-8", "replace")


def validate_endpoint(url: str, request_id: str) -> None:
    """The validation handshake: 400 unless the endpoint echoes the decoded token in time."""
    token = (
        "Validation: Testing client application reachability for subscription "
        f"Request-Id: {request_id}"
    )
    separator = "&" if urllib.parse.urlsplit(url).query else "?"
    target = f"{url}{separator}validationToken={urllib.parse.quote(token, safe='')}"
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    try:
        status, content_type, text = _post(target, b"", headers, VALIDATION_TIMEOUT_SECONDS)
    except TimeoutError:
        raise invalid_subscription("Subscription validation request timeout.") from None
    except (OSError, http.client.HTTPException) as exc:
        raise invalid_subscription(
            f"Subscription validation request failed. {type(exc).__name__}: {exc}"
        ) from None
    if status != 200:
        reason = http.client.responses.get(status, str(status)).replace(" ", "")
        raise invalid_subscription(
            "Subscription validation request failed. Notification endpoint must respond with "
            f"200 OK to validation request. HTTP '{reason}'"
        )
    if not content_type.lower().startswith("text/plain"):
        raise invalid_subscription(
            "Subscription validation request failed. Response must have Content-Type text/plain."
        )
    if text != token:
        raise invalid_subscription(
            "Subscription validation request failed. Response must exactly match "
            "validationToken query parameter."
        )


class Subscriptions:
    """The live subscriptions of one emulator and the thread that delivers their notifications."""

    def __init__(
        self,
        lock: threading.RLock,
        clock: Callable[[], datetime],
        tenant_id: str,
        on_delivery: Callable[[Delivery], None],
    ) -> None:
        self._lock = lock
        self._clock = clock
        self._tenant_id = tenant_id
        self._on_delivery = on_delivery
        self._items: dict[str, Subscription] = {}
        self._queue: Queue[tuple[Subscription, Json] | None] = Queue()
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- life ----
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="graph-emulator-notifications", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=DELIVERY_TIMEOUT_SECONDS + 1)
            self._thread = None

    # ------------------------------------------------------------- store ----
    def add(self, subscription: Subscription) -> None:
        with self._lock:
            self._items[subscription.id] = subscription

    def get(self, subscription_id: str) -> Subscription:
        with self._lock:
            found = self._items.get(subscription_id)
            if found is None or found.expiration <= self._clock():
                raise GraphError(404, "ResourceNotFound", "The object was not found.")
            return found

    def all(self) -> list[Subscription]:
        with self._lock:
            now = self._clock()
            return [s for s in self._items.values() if s.expiration > now]

    def renew(self, subscription_id: str, body: object) -> Subscription:
        with self._lock:
            found = self.get(subscription_id)
            if not isinstance(body, dict) or "expirationDateTime" not in body:
                raise invalid_subscription("Only expirationDateTime can be updated.")
            found.expiration = parse_expiration(body["expirationDateTime"], self._clock())
            return found

    def delete(self, subscription_id: str) -> None:
        with self._lock:
            self.get(subscription_id)
            self._items.pop(subscription_id)

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    # ------------------------------------------------------ notifications ----
    def notify(self, changes: list[Change]) -> None:
        """Queue a notification for every live subscription that wants each change."""
        with self._lock:
            now = self._clock()
            for change in changes:
                for sub in self._items.values():
                    if sub.expiration <= now or sub.mailbox.lower() != change.mailbox.lower():
                        continue
                    if change.change_type not in sub.change_types:
                        continue
                    resource = f"Users/{change.user_id}/Events/{change.event_id}"
                    payload = {
                        "value": [
                            {
                                "subscriptionId": sub.id,
                                "subscriptionExpirationDateTime": format_timestamp(sub.expiration),
                                "changeType": change.change_type,
                                "resource": resource,
                                "resourceData": {
                                    "@odata.type": "#Microsoft.Graph.Event",
                                    "@odata.id": resource,
                                    "@odata.etag": change.etag,
                                    "id": change.event_id,
                                },
                                "clientState": sub.client_state,
                                "tenantId": self._tenant_id,
                            }
                        ]
                    }
                    self._queue.put((sub, payload))

    def _run(self) -> None:
        while (entry := self._queue.get()) is not None:
            sub, payload = entry
            body = json.dumps(payload).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8"}
            try:
                status, _, _ = _post(sub.notification_url, body, headers, DELIVERY_TIMEOUT_SECONDS)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except (OSError, http.client.HTTPException) as exc:
                status, error = None, str(exc) or type(exc).__name__
            if error:
                log.warning("notification to %s failed: %s", sub.notification_url, error)
            self._on_delivery(Delivery(sub.id, sub.notification_url, payload, status, error))
