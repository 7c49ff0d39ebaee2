"""Google push channels (``events.watch``): opened with a TTL, never renewed, stopped.

Google POSTs to the channel's address whenever a calendar changes; the
notification only means "fetch now" (the reader does the fetching).
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta

from calsync.providers.google.client import GoogleClient, HttpProblem
from calsync.providers.google.mapping import Json


class GoogleChannels:
    """ChannelWatcher for one Google provider."""

    def __init__(self, client: GoogleClient) -> None:
        self.client = client

    def watch(self, calendar: str, address: str, token: str, ttl: timedelta) -> Json:
        """Open a push channel on ``calendar``; Google POSTs to ``address`` on changes."""
        resources = self.client.resources(calendar)
        channel = hashlib.sha256(f"{calendar}|{time.time_ns()}".encode()).hexdigest()[:40]
        body = {
            "id": f"calsync-{channel}",
            "type": "web_hook",
            "address": address,
            "token": token,
            "params": {"ttl": str(int(ttl.total_seconds()))},
        }
        return self.client.execute(resources.events.watch(calendarId=calendar, body=body), calendar)

    def stop_channel(self, calendar: str, channel_id: str, resource_id: str) -> None:
        resources = self.client.resources(calendar)
        request = resources.channels.stop(body={"id": channel_id, "resourceId": resource_id})
        try:
            self.client.execute(request, calendar)
        except HttpProblem as exc:
            if exc.status not in (404, 410):
                raise
