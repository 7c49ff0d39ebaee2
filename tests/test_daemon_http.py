"""The daemon's HTTP surface over real loopback HTTP: health, metrics and push webhooks.

Push is driven both by hand-made requests (forged tokens, oversize bodies) and
end to end by the Google and Graph emulators, which open channels and
subscriptions against the running server and deliver real notifications.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from calsync_emulators.google import GoogleEmulator
from calsync_emulators.graph import GraphEmulator

from calsync.config import GoogleProvider
from calsync.providers.google.auth import NoCredentials
from calsync.providers.google.calendar import GoogleCalendar
from calsync.service import metrics
from calsync.service.push import GoogleChannels, push_address
from calsync.service.push_tokens import (
    MAC_CHARS,
    TOKEN_MAX,
    TokenTooLong,
    mint_token,
    push_secret,
    verify_token,
)
from calsync.service.web.server import DaemonServer
from tests.support import Clock

SECRET = push_secret(b"test key, not a real one")
# Tokens minted for a channel that ends LATER; notifications checked SOON.
LATER = datetime(2027, 1, 1, tzinfo=UTC)
SOON = datetime(2026, 12, 1, tzinfo=UTC)
MARIA, DEV = "maria@example.com", "dev@example.com"
VALIDATION = (
    "Validation: Testing client application reachability for subscription "
    "Request-Id: 3b3f5c1e-7d2a-4e8b-9f10-aa55c0ffee42"
)


class Changes:
    """An ``on_change`` that records calls and lets a test wait for them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, provider: str, calendar: str) -> None:
        with self._cond:
            self.calls.append((provider, calendar))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[str, str]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.calls) >= count, timeout=timeout)
            return list(self.calls)


class Health:
    def __init__(self) -> None:
        self.ok = True
        self.info: dict[str, Any] = {"last_cycle": "2026-11-20T21:00:00+00:00"}

    def __call__(self) -> tuple[bool, dict[str, Any]]:
        return self.ok, self.info


@pytest.fixture
def changes() -> Changes:
    return Changes()


@pytest.fixture
def health() -> Health:
    return Health()


@pytest.fixture
def server(changes: Changes, health: Health) -> Iterator[DaemonServer]:
    with DaemonServer("127.0.0.1:0", SECRET, changes, health) as running:
        yield running


@pytest.fixture
def client(server: DaemonServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def google_headers(token: str | None, state: str = "exists", number: int = 2) -> dict[str, str]:
    headers = {
        "X-Goog-Channel-ID": "calsync-0123456789abcdef",
        "X-Goog-Resource-State": state,
        "X-Goog-Resource-ID": "ret08u3rv24htgh004g",
        "X-Goog-Message-Number": str(number),
    }
    if token is not None:
        headers["X-Goog-Channel-Token"] = token
    return headers


def graph_item(client_state: str | None) -> dict[str, Any]:
    return {
        "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        "changeType": "updated",
        "resource": "Users/7d2a/Events/AAMkAGI=",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "AAMkAGI="},
        "clientState": client_state,
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
    }


# ------------------------------------------------------------------- tokens ----
def test_token_round_trip_names_the_calendar_and_proves_calsync_minted_it() -> None:
    token = mint_token(SECRET, "google", MARIA, expires=LATER)
    assert verify_token(SECRET, "google", token, now=SOON) == MARIA
    assert verify_token(SECRET, "outlook", token, now=SOON) is None  # bound to the provider
    assert verify_token(push_secret(b"another key"), "google", token, now=SOON) is None
    _, expiry, mac = token.split(".")
    assert len(mac) == MAC_CHARS
    forged_head = base64.urlsafe_b64encode(DEV.encode()).rstrip(b"=").decode()
    assert verify_token(SECRET, "google", f"{forged_head}.{expiry}.{mac}", now=SOON) is None
    assert verify_token(SECRET, "google", None, now=SOON) is None
    assert verify_token(SECRET, "google", "", now=SOON) is None
    assert verify_token(SECRET, "google", "not a token", now=SOON) is None
    assert verify_token(SECRET, "google", "!!!." + mac, now=SOON) is None


def test_token_flip_of_the_mac_is_refused() -> None:
    token = mint_token(SECRET, "outlook", MARIA, expires=LATER)
    head, expiry, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    assert verify_token(SECRET, "outlook", f"{head}.{expiry}.{flipped}", now=SOON) is None


def test_a_token_expires_with_its_channel_and_its_expiry_cannot_be_stretched() -> None:
    token = mint_token(SECRET, "google", MARIA, expires=SOON)
    assert verify_token(SECRET, "google", token, now=SOON - timedelta(seconds=1)) == MARIA
    assert verify_token(SECRET, "google", token, now=SOON + timedelta(seconds=1)) is None
    head, _, mac = token.split(".")
    stretched = f"{head}.{int(LATER.timestamp()):x}.{mac}"  # a later expiry, the old MAC
    assert verify_token(SECRET, "google", stretched, now=SOON + timedelta(seconds=1)) is None


def test_token_longer_than_graph_client_state_is_refused_with_a_clear_error() -> None:
    fits = "a" * 54 + "@example.com"  # 66 bytes
    assert len(mint_token(SECRET, "outlook", fits, expires=LATER)) == TOKEN_MAX
    with pytest.raises(TokenTooLong, match=r"at most 128 in clientState"):
        mint_token(SECRET, "outlook", "a" + fits, expires=LATER)


# ----------------------------------------------------------- health, metrics ----
def test_healthz_is_200_when_healthy_and_503_otherwise(
    client: httpx.Client, health: Health
) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"ok": True, "last_cycle": "2026-11-20T21:00:00+00:00"}
    health.ok, health.info = False, {"reason": "no cycle for 20 minutes"}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"ok": False, "reason": "no cycle for 20 minutes"}


def test_healthz_is_503_when_the_check_raises(changes: Changes) -> None:
    def broken() -> tuple[bool, dict[str, Any]]:
        raise RuntimeError("database is gone")

    with DaemonServer("127.0.0.1:0", SECRET, changes, broken) as server:
        response = httpx.get(server.url + "/healthz")
    assert response.status_code == 503
    assert response.json()["ok"] is False


def test_metrics_expose_every_calsync_metric_after_recording(client: httpx.Client) -> None:
    metrics.record_sync("google", "ok")
    metrics.record_sync("outlook", "unchanged")
    metrics.record_api_call("google", "retry")
    metrics.set_findings({"cadence_gap": 2, "repeated_cancellations": 1})
    metrics.record_rebook("booked")
    metrics.record_email("sent")
    metrics.record_push("google", "accepted")
    metrics.observe_cycle(3.5, datetime(2026, 11, 20, 21, 0, tzinfo=UTC))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    for name in (
        'calsync_syncs_total{outcome="ok",provider="google"}',
        'calsync_syncs_total{outcome="unchanged",provider="outlook"}',
        'calsync_api_calls_total{outcome="retry",provider="google"}',
        'calsync_findings{kind="cadence_gap"} 2.0',
        'calsync_rebooks_total{outcome="booked"}',
        'calsync_rebooks_total{outcome="no_slot"}',
        'calsync_email_sends_total{outcome="sent"}',
        'calsync_push_notifications_total{outcome="accepted",provider="google"}',
        "calsync_cycle_seconds_bucket",
        "calsync_last_cycle_timestamp_seconds",
    ):
        assert name in text, name
    finished = metrics.REGISTRY.get_sample_value("calsync_last_cycle_timestamp_seconds")
    assert finished == datetime(2026, 11, 20, 21, 0, tzinfo=UTC).timestamp()
    assert "process_cpu_seconds_total" not in text  # calsync's own registry only


def test_findings_that_disappear_drop_to_zero() -> None:
    metrics.set_findings({"shortening": 3})
    metrics.set_findings({})
    assert metrics.REGISTRY.get_sample_value("calsync_findings", {"kind": "shortening"}) == 0


def test_unknown_outcomes_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="sync outcome 'fine'"):
        metrics.record_sync("google", "fine")
    with pytest.raises(ValueError):
        metrics.record_rebook("maybe")


# -------------------------------------------------------------- google push ----
def push_count(provider: str, outcome: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "calsync_push_notifications_total", {"provider": provider, "outcome": outcome}
    )
    return value or 0.0


def test_google_change_with_a_valid_token_syncs_that_calendar_once(
    client: httpx.Client, changes: Changes
) -> None:
    before = push_count("google", "accepted")
    token = mint_token(SECRET, "google", MARIA, expires=LATER)
    response = client.post("/push/google", headers=google_headers(token, "exists"))
    assert response.status_code == 200
    assert changes.calls == [("google", MARIA)]
    response = client.post("/push/google", headers=google_headers(token, "not_exists", 3))
    assert response.status_code == 200
    assert changes.calls == [("google", MARIA), ("google", MARIA)]
    assert push_count("google", "accepted") == before + 2


def test_google_sync_message_is_acknowledged_without_a_sync(
    client: httpx.Client, changes: Changes
) -> None:
    token = mint_token(SECRET, "google", MARIA, expires=LATER)
    response = client.post("/push/google", headers=google_headers(token, "sync", 1))
    assert response.status_code == 200
    assert changes.calls == []


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        mint_token(push_secret(b"someone else"), "google", MARIA, expires=LATER),
        # A Graph clientState is not a Google token.
        mint_token(SECRET, "outlook", MARIA, expires=LATER),
        "bWFyaWFAZXhhbXBsZS5jb20.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
    ids=["missing", "empty", "other-secret", "other-provider", "forged-mac"],
)
def test_google_push_without_a_valid_token_is_403_and_does_nothing(
    client: httpx.Client, changes: Changes, token: str | None
) -> None:
    before = push_count("google", "rejected")
    response = client.post("/push/google", headers=google_headers(token))
    assert response.status_code == 403
    assert changes.calls == []
    assert push_count("google", "rejected") == before + 1


def test_google_push_ignores_the_body(client: httpx.Client, changes: Changes) -> None:
    token = mint_token(SECRET, "google", MARIA, expires=LATER)
    response = client.post(
        "/push/google",
        headers=google_headers(token, "sync"),
        json={"calendar": DEV, "state": "exists"},
    )
    assert response.status_code == 200
    assert changes.calls == []


def test_google_unknown_resource_state_is_refused(client: httpx.Client, changes: Changes) -> None:
    token = mint_token(SECRET, "google", MARIA, expires=LATER)
    assert client.post("/push/google", headers=google_headers(token, "gone")).status_code == 400
    assert changes.calls == []


def test_a_failing_on_change_is_a_500_so_the_provider_retries(health: Health) -> None:
    def broken(provider: str, calendar: str) -> None:
        raise RuntimeError("queue is full")

    token = mint_token(SECRET, "google", MARIA, expires=LATER)
    with DaemonServer("127.0.0.1:0", SECRET, broken, health) as server:
        response = httpx.post(server.url + "/push/google", headers=google_headers(token))
    assert response.status_code == 500


# --------------------------------------------------------------- graph push ----
def test_graph_validation_echoes_the_decoded_token_exactly(
    server: DaemonServer, changes: Changes
) -> None:
    encoded = urllib.parse.quote(VALIDATION, safe="")
    assert "%20" in encoded and "%3A" in encoded
    response = httpx.post(f"{server.url}/push/graph?validationToken={encoded}", content=b"")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == VALIDATION
    assert changes.calls == []


def test_graph_notification_with_a_valid_client_state_is_202_and_syncs(
    client: httpx.Client, changes: Changes
) -> None:
    state = mint_token(SECRET, "outlook", MARIA, expires=LATER)
    body = {"value": [graph_item(state), graph_item(state)]}  # one sync per calendar
    response = client.post("/push/graph", json=body)
    assert response.status_code == 202
    assert changes.calls == [("outlook", MARIA)]


def test_graph_items_with_a_bad_client_state_are_rejected_one_by_one(
    client: httpx.Client, changes: Changes
) -> None:
    good = mint_token(SECRET, "outlook", DEV, expires=LATER)
    forged = mint_token(push_secret(b"attacker"), "outlook", MARIA, expires=LATER)
    before = push_count("outlook", "rejected")
    body = {"value": [graph_item(forged), graph_item(good), graph_item(None), "junk"]}
    response = client.post("/push/graph", json=body)
    assert response.status_code == 202
    assert changes.calls == [("outlook", DEV)]
    assert push_count("outlook", "rejected") == before + 3


@pytest.mark.parametrize(
    "state",
    [None, "calsync-secret", mint_token(SECRET, "google", MARIA, expires=LATER)],
    ids=["missing", "foreign", "google-token"],
)
def test_graph_notification_without_a_valid_client_state_is_403(
    client: httpx.Client, changes: Changes, state: str | None
) -> None:
    response = client.post("/push/graph", json={"value": [graph_item(state)]})
    assert response.status_code == 403
    assert changes.calls == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"value": {}}', b"\xff\xfe"])
def test_graph_notification_that_is_not_a_value_list_is_400(
    client: httpx.Client, changes: Changes, body: bytes
) -> None:
    response = client.post(
        "/push/graph", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert changes.calls == []


# ----------------------------------------------------------------- plumbing ----
def test_unknown_paths_are_404_and_wrong_methods_405(client: httpx.Client) -> None:
    assert client.get("/").status_code == 404
    assert client.get("/push/google/extra").status_code == 404
    assert client.post("/healthz").status_code == 405
    response = client.get("/push/google")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert client.delete("/metrics").status_code == 405


def test_oversize_body_is_413(client: httpx.Client, changes: Changes) -> None:
    state = mint_token(SECRET, "outlook", MARIA, expires=LATER)
    padding = "x" * (1024 * 1024)
    response = client.post("/push/graph", json={"value": [graph_item(state)], "pad": padding})
    assert response.status_code == 413
    assert changes.calls == []


def test_oversize_announced_length_is_413_without_reading_the_body(
    server: DaemonServer,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"POST /push/graph HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n{"
        )
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_oversize_chunked_body_is_413(client: httpx.Client, changes: Changes) -> None:
    """No Content-Length to refuse up front: the body is counted as it arrives."""
    state = mint_token(SECRET, "outlook", MARIA, expires=LATER)
    head = b'{"value": [' + json.dumps(graph_item(state)).encode() + b'], "pad": "'

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = client.post("/push/graph", content=chunks())
    assert response.status_code == 413
    assert changes.calls == []


def test_tokens_never_reach_the_logs(
    client: httpx.Client, server: DaemonServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="calsync")
    token = mint_token(SECRET, "google", MARIA, expires=LATER)
    forged = token[:-4] + "AAAA"
    client.post("/push/google", headers=google_headers(token))
    client.post("/push/google", headers=google_headers(forged))
    state = mint_token(SECRET, "outlook", DEV, expires=LATER)
    client.post("/push/graph", json={"value": [graph_item(state)]})
    encoded = urllib.parse.quote(VALIDATION, safe="")
    client.post(f"/push/graph?validationToken={encoded}")
    assert caplog.records, "the server logs what it does"
    text = caplog.text
    for secret in (token, forged, token.split(".")[1], "Request-Id", "3b3f5c1e"):
        assert secret not in text


def test_listen_must_be_host_and_port(changes: Changes, health: Health) -> None:
    with pytest.raises(ValueError, match="not host:port"):
        DaemonServer("8787", SECRET, changes, health)


# ------------------------------------------------------- google, end to end ----
@pytest.fixture
def google(google: GoogleEmulator) -> GoogleEmulator:
    """The shared emulator (conftest), with Maria's and Dev's calendars."""
    google.add_calendar(MARIA)
    google.add_calendar(DEV)
    return google


@pytest.fixture
def reader(google: GoogleEmulator) -> Iterator[GoogleCalendar]:
    settings = GoogleProvider(kind="google", auth="none", api_endpoint=google.url, max_retries=0)
    calendar = GoogleCalendar(
        "work", settings, NoCredentials(), lambda _calendar: ZoneInfo("UTC"), sleep=lambda _: None
    )
    yield calendar
    calendar.close()


def one_event(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "start": {"dateTime": "2026-11-23T10:00:00Z"},
        "end": {"dateTime": "2026-11-23T10:30:00Z"},
    }


def test_push_address_needs_https_except_on_loopback() -> None:
    assert push_address("https://calsync.example.com/hooks/") == (
        "https://calsync.example.com/hooks/push/google"
    )
    assert push_address("http://127.0.0.1:8787") == "http://127.0.0.1:8787/push/google"
    with pytest.raises(ValueError, match="Google delivers push notifications only over HTTPS"):
        push_address("http://calsync.example.com")
    assert push_address("http://[::1]:8787", "graph") == "http://[::1]:8787/push/graph"
    with pytest.raises(ValueError, match="Microsoft Graph delivers push notifications only"):
        push_address("http://calsync.example.com", "graph")
    with pytest.raises(ValueError, match="not an http"):
        push_address("calsync.example.com")


def test_google_channel_delivers_a_change_to_the_daemon(
    google: GoogleEmulator, reader: GoogleCalendar, server: DaemonServer, changes: Changes
) -> None:
    channels = GoogleChannels(reader, server.url, SECRET)
    now = datetime.now(UTC)
    assert channels.ensure([MARIA], now) == []
    (opened,) = google.channels()
    assert opened["address"] == server.url + "/push/google"
    assert verify_token(SECRET, "google", opened["token"], now=SOON) == MARIA
    (sync,) = google.wait_for_deliveries(1)
    assert (sync.state, sync.status) == ("sync", 200)
    assert changes.calls == []  # the sync message opens the channel, nothing changed

    google.insert_event(MARIA, one_event("Maria / Dev 1:1"))
    google.insert_event(DEV, one_event("Dev focus"))  # not watched
    deliveries = google.wait_for_deliveries(2)
    assert [(d.state, d.status) for d in deliveries] == [("sync", 200), ("exists", 200)]
    assert changes.wait_for(1) == [("google", MARIA)]

    assert channels.ensure([MARIA], now + timedelta(hours=1)) == []  # nothing to do
    assert [c["id"] for c in google.channels()] == [opened["id"]]
    channels.stop_all()
    assert google.channels() == []


def test_google_channel_is_renewed_before_it_expires_new_first_then_old_stopped(
    google: GoogleEmulator, reader: GoogleCalendar, server: DaemonServer, changes: Changes
) -> None:
    calls: list[str] = []
    watch, stop = reader.watch, reader.stop_channel

    def recording_watch(*args: Any) -> dict[str, Any]:
        calls.append("watch")
        return watch(*args)

    def recording_stop(*args: Any) -> None:
        calls.append("stop")
        stop(*args)

    reader.watch, reader.stop_channel = recording_watch, recording_stop  # type: ignore[method-assign]
    channels = GoogleChannels(reader, server.url, SECRET)
    now = datetime.now(UTC)
    assert channels.ensure([MARIA, DEV], now) == []
    old = channels.channels[MARIA]
    assert calls == ["watch", "watch"]

    later = now + timedelta(days=6, hours=12)  # the 7-day channels expire within a day
    assert channels.ensure([MARIA, DEV], later) == []
    assert calls == ["watch", "watch", "watch", "stop", "watch", "stop"]
    new = channels.channels[MARIA]
    assert new.id != old.id and new.expiration >= old.expiration
    live = {c["id"] for c in google.channels()}
    assert live == {new.id, channels.channels[DEV].id}

    google.insert_event(MARIA, one_event("after renewal"))
    assert changes.wait_for(1) == [("google", MARIA)]
    assert all(d.channel_id != old.id for d in google.deliveries if d.state == "exists")


def test_google_channels_report_problems_per_calendar_and_stop_unlisted_ones(
    google: GoogleEmulator, reader: GoogleCalendar, server: DaemonServer
) -> None:
    channels = GoogleChannels(reader, server.url, SECRET)
    now = datetime.now(UTC)
    problems = channels.ensure([MARIA, "nobody@example.com", DEV], now)
    assert len(problems) == 1
    assert problems[0].startswith("google nobody@example.com: cannot open the push channel")
    assert set(channels.channels) == {MARIA, DEV}

    assert channels.ensure([DEV], now) == []  # Maria left the config
    assert [c["resourceId"] for c in google.channels()] == [channels.channels[DEV].resource_id]


def test_google_channels_refuse_a_plain_http_public_url(reader: GoogleCalendar) -> None:
    with pytest.raises(ValueError, match="HTTPS"):
        GoogleChannels(reader, "http://calsync.example.com", SECRET)


# -------------------------------------------------------- graph, end to end ----
GRAPH_NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def clock(clock: Clock) -> Clock:
    clock.now = GRAPH_NOW
    return clock


@pytest.fixture
def graph(graph: GraphEmulator) -> GraphEmulator:
    """The shared emulator (conftest) at ``GRAPH_NOW``, with Maria's mailbox."""
    graph.add_mailbox(MARIA, "Maria Rossi")
    return graph


def graph_client(graph: GraphEmulator) -> httpx.Client:
    """Graph on the emulator, with a token it issued."""
    headers = {"Authorization": f"Bearer {graph.issue_token()}"}
    return httpx.Client(base_url=graph.url + "/", headers=headers, timeout=15)


def subscribe_to_maria(http: httpx.Client, server: DaemonServer, change_type: str,
                       lasting: timedelta, client_state: str) -> None:
    """Subscribe the daemon's push endpoint to Maria's events; Graph validates the URL
    with the daemon before it answers 201."""
    response = http.post(
        "subscriptions",
        json={
            "changeType": change_type,
            "notificationUrl": server.url + "/push/graph",
            "resource": f"/users/{MARIA}/events",
            "expirationDateTime": (GRAPH_NOW + lasting).isoformat(),
            "clientState": client_state,
        },
    )
    assert response.status_code == 201, response.text  # the handshake succeeded


def test_graph_subscription_validates_against_the_daemon_and_delivers_changes(
    graph: GraphEmulator, server: DaemonServer, changes: Changes
) -> None:
    with graph_client(graph) as http:
        subscribe_to_maria(http, server, "created,updated,deleted", timedelta(days=2),
                           mint_token(SECRET, "outlook", MARIA, expires=LATER))
        created = http.post(
            f"users/{MARIA}/events",
            json={
                "subject": "Maria / Bob 1:1",
                "start": {"dateTime": "2026-03-04T15:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2026-03-04T15:30:00", "timeZone": "UTC"},
            },
        )
        assert created.status_code == 201, created.text
    (delivery,) = graph.wait_for_deliveries(1)
    assert (delivery.status, delivery.error) == (202, None)
    assert changes.wait_for(1) == [("outlook", MARIA)]


def test_graph_subscription_with_a_foreign_client_state_never_syncs(
    graph: GraphEmulator, server: DaemonServer, changes: Changes
) -> None:
    with graph_client(graph) as http:
        subscribe_to_maria(http, server, "created", timedelta(days=1), "someone-else")
    graph.create_event(
        MARIA,
        {
            "subject": "Spoofed",
            "start": {"dateTime": "2026-03-04T15:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-03-04T15:30:00", "timeZone": "UTC"},
        },
    )
    (delivery,) = graph.wait_for_deliveries(1)
    assert delivery.status == 403
    assert changes.calls == []


def test_a_deeply_nested_push_body_is_a_400_not_a_crash(
    client: httpx.Client, changes: Changes, caplog: pytest.LogCaptureFixture
) -> None:
    depth = 200_000
    body = b"[" * depth + b"]" * depth
    response = client.post("/push/graph", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert changes.calls == []
    assert not [r for r in caplog.records if r.exc_info]


def test_clients_that_hang_up_mid_request_leave_no_traceback(
    server: DaemonServer, caplog: pytest.LogCaptureFixture
) -> None:
    """1,500 BrokenPipe tracebacks in one run came from clients leaving early."""
    import socket

    for _ in range(50):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"POST /push/graph HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                         b"Content-Type: application/json\r\n\r\n{\"value\": [")
    with httpx.Client(base_url=server.url, timeout=10) as http:  # still serving
        assert http.get("/healthz").status_code == 200
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def test_a_burst_of_connections_is_served_not_reset(server: DaemonServer) -> None:
    """The old http.server listened with a backlog of 5 and reset connections under load."""
    import concurrent.futures

    def probe(_: int) -> int:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            return http.get("/healthz").status_code

    with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
        statuses = list(pool.map(probe, range(200)))
    assert statuses == [200] * 200
