"""Graph change notifications (``/subscriptions``): created, renewed, deleted.

Graph POSTs to the notification URL whenever a mailbox's events change; the
notification only means "fetch now" (the reader does the fetching).
"""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime

from calsync.providers.outlook.client import GraphClient, HttpProblem, user_path
from calsync.providers.outlook.mapping import Json


def _graph_instant(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


class GraphSubscriptions:
    """Subscriber for one Microsoft 365 provider."""

    def __init__(self, client: GraphClient) -> None:
        self.client = client

    def subscribe(
        self, calendar: str, notification_url: str, client_state: str, expires: datetime
    ) -> Json:
        """Ask Graph to POST changes of ``calendar``'s events to ``notification_url``.

        Graph validates the URL before answering (the daemon's /push/graph echoes
        the token), so the daemon's server must already be listening.
        """
        body = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": f"/{user_path(calendar)}/events",
            "expirationDateTime": _graph_instant(expires),
            "clientState": client_state,
        }
        return self.client.request(
            "POST", self.client.url("subscriptions"), calendar, body=body, idempotent=False
        )

    def delete_subscription(self, calendar: str, subscription_id: str) -> None:
        path = "subscriptions/" + urllib.parse.quote(subscription_id, safe="")
        try:
            self.client.request("DELETE", self.client.url(path), calendar)
        except HttpProblem as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise
