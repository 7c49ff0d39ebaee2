"""Sending the weekly emails through a real SMTP server on loopback (aiosmtpd).

Every store test runs on SQLite and on a real PostgreSQL (``store_url``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from calsync.config import SmtpSettings
from calsync.report import report_problems, send_due_reports
from calsync.report.mailer import SendFailed, SmtpMailer
from calsync.report.render import build_message, message_id
from calsync.report.service import build_reports, deliver
from calsync.store import Store, open_store
from calsync.store import report_sends as sends
from tests.report_support import (
    SEND_NOW,
    TEAMS,
    Catcher,
    Received,
    other_names,
    report_names,
    seed_team,
    self_signed_cert,
    server_tls,
    smtp_server,
    team_settings,
)
from tests.support import at_once, free_port

MINUTE = timedelta(minutes=1)


@pytest.fixture
def smtp_port(catcher: Catcher) -> Iterator[int]:
    with smtp_server(catcher) as port:
        yield port


def plain(port: int) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "starttls": False, "timeout": 10}


def by_manager(received: list[Received]) -> dict[str, list[Received]]:
    out: dict[str, list[Received]] = {}
    for message in received:
        out.setdefault(message.rcpt_tos[0], []).append(message)
    return out


def test_each_manager_gets_one_email_with_both_parts_and_only_their_reports(
    store: Store, store_url: str, catcher: Catcher, smtp_port: int
) -> None:
    settings = team_settings(plain(smtp_port))
    seed_team(store, settings)

    outcomes = send_due_reports(settings, store, SEND_NOW)

    assert sorted((o.manager, o.week, o.state) for o in outcomes) == [
        ("ann@example.com", "2026-W47", "sent"),
        ("bob@example.com", "2026-W47", "sent"),
    ]
    received = by_manager(catcher.received)
    assert set(received) == set(TEAMS)
    for manager, (mail,) in received.items():
        assert mail.rcpt_tos == [manager]  # the envelope: that manager and nobody else
        assert mail.mail_from == "calsync@example.org"
        message = mail.message
        assert manager in message["To"] and message.get_all("Cc") is None
        assert message["Subject"].startswith("1:1s 16–22 Nov: 1 of 2 held")
        assert message["Message-ID"] == message_id(manager, "2026-W47", "calsync@example.org")
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        for name in report_names(manager):
            assert name in text and name in html
        for name in other_names(manager):
            assert name not in text and name not in html

    # The same worker again, and a restarted one on the same database: nothing more is sent.
    assert send_due_reports(settings, store, SEND_NOW + MINUTE) == []
    with open_store(store_url) as restarted:
        assert send_due_reports(settings, restarted, SEND_NOW + 5 * MINUTE) == []
    assert len(catcher.received) == 2
    assert [(r.manager, r.state, r.attempts) for r in sends.sends(store)] == [
        ("ann@example.com", "sent", 1),
        ("bob@example.com", "sent", 1),
    ]
    assert report_problems(store, SEND_NOW + timedelta(hours=2)) == []


def test_each_email_waits_for_the_send_time_in_its_managers_zone(
    store: Store, catcher: Catcher, smtp_port: int
) -> None:
    settings = team_settings(plain(smtp_port))
    seed_team(store, settings)
    berlin_morning = SEND_NOW.replace(hour=7, minute=30)  # 08:30 in Berlin, 02:30 in New York

    outcomes = send_due_reports(settings, store, berlin_morning)

    assert [(o.manager, o.week) for o in outcomes] == [("ann@example.com", "2026-W47")]
    # Bob's previous send time (a week ago) is long past: last week's email is not sent late.
    assert [m.rcpt_tos for m in catcher.received] == [["ann@example.com"]]
    later = send_due_reports(settings, store, SEND_NOW)
    assert [(o.manager, o.state) for o in later] == [("bob@example.com", "sent")]


def test_a_failing_server_is_retried_later_without_duplicates(
    store: Store, catcher: Catcher, smtp_port: int
) -> None:
    settings = team_settings(plain(smtp_port))
    seed_team(store, settings)
    catcher.fail_next = 2  # both first attempts get "451 Try again later"

    first = send_due_reports(settings, store, SEND_NOW)

    assert [o.state for o in first] == ["failed", "failed"]
    assert all("451" in (o.error or "") for o in first)
    assert all(o.retry_at == SEND_NOW + timedelta(minutes=5) for o in first)
    assert catcher.received == []
    problems = report_problems(store, SEND_NOW + MINUTE)
    assert len(problems) == 2 and all("retried automatically" in p for p in problems)

    assert send_due_reports(settings, store, SEND_NOW + MINUTE) == []  # backing off
    second = send_due_reports(settings, store, SEND_NOW + 6 * MINUTE)
    assert [o.state for o in second] == ["sent", "sent"]
    assert send_due_reports(settings, store, SEND_NOW + 20 * MINUTE) == []

    assert catcher.attempts == 4
    assert {m: len(v) for m, v in by_manager(catcher.received).items()} == {
        "ann@example.com": 1, "bob@example.com": 1,
    }  # fmt: skip
    assert {r.attempts for r in sends.sends(store)} == {2}
    assert report_problems(store, SEND_NOW + timedelta(hours=1)) == []


def test_an_unreachable_server_is_retried_with_backoff(
    store: Store, catcher: Catcher, smtp_port: int
) -> None:
    down = team_settings(plain(free_port()))
    seed_team(store, down)

    first = send_due_reports(down, store, SEND_NOW)
    assert [o.state for o in first] == ["failed", "failed"]
    assert all("connection refused" in (o.error or "") for o in first)

    again = send_due_reports(down, store, SEND_NOW + 6 * MINUTE)  # still down: backs off more
    assert [o.retry_at for o in again] == [SEND_NOW + 6 * MINUTE + 15 * MINUTE] * 2

    up = team_settings(plain(smtp_port))  # the relay is back (here: at another port)
    assert send_due_reports(up, store, SEND_NOW + 10 * MINUTE) == []  # not yet
    done = send_due_reports(up, store, SEND_NOW + 22 * MINUTE)
    assert [o.state for o in done] == ["sent", "sent"]
    assert len(catcher.received) == 2


def test_a_permanent_refusal_waits_for_a_person(
    store: Store, catcher: Catcher, smtp_port: int
) -> None:
    settings = team_settings(plain(smtp_port))
    seed_team(store, settings)
    catcher.fail_next, catcher.fail_code = 2, "554 5.7.1 Relaying denied"

    outcomes = send_due_reports(settings, store, SEND_NOW)
    assert [(o.state, o.retry_at) for o in outcomes] == [("failed", None)] * 2
    assert send_due_reports(settings, store, SEND_NOW + timedelta(hours=3)) == []
    problems = report_problems(store, SEND_NOW + timedelta(hours=3))
    assert len(problems) == 2
    assert "not retried automatically: 127.0.0.1" in problems[0]
    assert "554 5.7.1 Relaying denied" in problems[0]
    assert "calsync report --manager ann@example.com --week 2026-W47 --send" in problems[0]

    # A person fixed the relay and runs `calsync report --send`: that claims the failed row.
    (report,) = build_reports(settings, store, SEND_NOW, managers=["ann@example.com"])
    mailer = SmtpMailer(SmtpSettings.model_validate(plain(smtp_port)))
    sender = "calsync <calsync@example.org>"
    outcome = deliver(
        store, "ann@example.com", "2026-W47", sender, lambda: build_message(report, sender),
        mailer, SEND_NOW + timedelta(hours=4), ignore_backoff=True,
    )
    assert outcome.state == "sent"
    assert [m.rcpt_tos for m in catcher.received] == [["ann@example.com"]]


def test_an_interrupted_send_is_not_repeated_but_shown(
    store: Store, catcher: Catcher, smtp_port: int
) -> None:
    settings = team_settings(plain(smtp_port))
    seed_team(store, settings)
    # A worker claimed Ann's email and died before recording the outcome.
    claim = sends.claim_send(store, "ann@example.com", "2026-W47", "<m@x>", SEND_NOW)
    assert claim is not None and claim.state == "sending"

    outcomes = send_due_reports(settings, store, SEND_NOW + MINUTE)
    assert [o.manager for o in outcomes] == ["bob@example.com"]  # at most once: Ann waits
    assert report_problems(store, SEND_NOW + 10 * MINUTE) == []  # may still be in progress
    (problem,) = report_problems(store, SEND_NOW + timedelta(hours=1))
    assert "ann@example.com for 2026-W47 was interrupted while sending" in problem
    assert "--send --resend" in problem

    # Resending on purpose keeps the Message-ID: a mail client can tell it is the same email.
    (report,) = build_reports(settings, store, SEND_NOW, managers=["ann@example.com"])
    mailer = SmtpMailer(SmtpSettings.model_validate(plain(smtp_port)))
    sender = "calsync <calsync@example.org>"
    compose = lambda: build_message(report, sender)  # noqa: E731
    skipped = deliver(store, "ann@example.com", "2026-W47", sender, compose, mailer, SEND_NOW)
    assert skipped.state == "skipped" and skipped.record and skipped.record.state == "sending"
    resent = deliver(
        store, "ann@example.com", "2026-W47", sender, compose, mailer, SEND_NOW, resend=True
    )
    assert resent.state == "sent"
    ann = by_manager(catcher.received)["ann@example.com"]
    assert [m.message["Message-ID"] for m in ann] == [
        message_id("ann@example.com", "2026-W47", sender)
    ]


def test_two_workers_send_each_email_once(
    store_url: str, catcher: Catcher, smtp_port: int
) -> None:
    settings = team_settings(plain(smtp_port))
    with open_store(store_url) as store:
        seed_team(store, settings)
    # One store (engine, connection pool) per worker, as in separate processes. They are
    # opened here: Alembic's migration context is process-global, not thread-safe.
    stores = [open_store(store_url) for _ in range(3)]
    try:
        sent = at_once(lambda own: send_due_reports(settings, own, SEND_NOW), stores)
    finally:
        for own in stores:
            own.close()
    results = [outcome for outcomes in sent for outcome in outcomes]
    assert sorted(o.manager for o in results if o.state == "sent") == sorted(TEAMS)
    assert sorted(m.rcpt_tos[0] for m in catcher.received) == sorted(TEAMS)


def test_only_one_of_many_claims_wins(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(4)]
    try:
        claims = at_once(lambda own: sends.claim_send(own, "ann@example.com", "2026-W47",
                                                      "<m@x>", SEND_NOW), stores)
    finally:
        for own in stores:
            own.close()
    assert len([record for record in claims if record is not None]) == 1


def test_nudges_share_the_ledger_as_their_own_kind(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(4)]
    key = "nudge|ann@example.com|bob@example.com|2026-11-23T15:00:00+00:00"
    claims = at_once(lambda own: sends.claim_send(own, "bob@example.com", key, "<n@x>",
                                                  SEND_NOW, kind=sends.NUDGE), stores)
    wins = [record for record in claims if record is not None]
    store = stores[0]
    assert [(w.kind, w.state) for w in wins] == [(sends.NUDGE, "sending")]
    sends.mark_sent(store, "bob@example.com", key, SEND_NOW)
    # The weekly email's readers (and doctor) do not see nudges; the nudge readers do.
    assert sends.sends(store) == [] and sends.latest_sends(store) == []
    assert [r.state for r in sends.sends(store, key, kind=sends.NUDGE)] == ["sent"]
    with pytest.raises(ValueError, match="unknown send kind"):
        sends.claim_send(store, "bob@example.com", "x", "<n@x>", SEND_NOW, kind="spam")
    for own in stores:
        own.close()


def test_a_failed_send_is_reclaimed_by_one_worker_only(store: Store) -> None:
    week, manager = "2026-W47", "bob@example.com"
    assert sends.claim_send(store, manager, week, "<m@x>", SEND_NOW)
    sends.mark_failed(store, manager, week, "451 later", SEND_NOW, SEND_NOW + 5 * MINUTE)
    assert sends.claim_send(store, manager, week, "<m@x>", SEND_NOW + MINUTE) is None
    retry = sends.claim_send(store, manager, week, "<m@x>", SEND_NOW + 5 * MINUTE)
    assert retry is not None and retry.attempts == 2 and retry.state == "sending"
    assert sends.claim_send(store, manager, week, "<m@x>", SEND_NOW + 6 * MINUTE) is None
    sends.mark_sent(store, manager, week, SEND_NOW + 6 * MINUTE)
    assert sends.claim_send(store, manager, week, "<m@x>", SEND_NOW, ignore_backoff=True) is None
    record = sends.get_send(store, manager, week)
    assert record is not None and record.state == "sent" and record.last_error is None


# -- TLS and login --------------------------------------------------------------------


def _authenticator(user: str, password: str) -> Any:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(), password.encode()
        )
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the 535

    return check


def _probe_message() -> Any:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "calsync <calsync@example.org>"
    message["To"] = "Ann Arendt <ann@example.com>"
    message["Subject"] = "probe"
    message.set_content("hello")
    return message


def test_starttls_with_login_takes_the_password_from_the_environment(
    tmp_path: Path, catcher: Catcher
) -> None:
    cert, key = self_signed_cert(tmp_path)
    secret = "s3cret-value"
    with smtp_server(
        catcher,
        tls_context=server_tls(cert, key),
        require_starttls=True,
        authenticator=_authenticator("calsync", secret),
        auth_require_tls=True,
    ) as port:
        smtp = SmtpSettings(
            host="127.0.0.1", port=port, starttls=True, user="calsync",
            password_env="TEST_CALSYNC_SMTP_PASSWORD", ca_file=str(cert), timeout=10,
        )
        SmtpMailer(smtp, env={"TEST_CALSYNC_SMTP_PASSWORD": secret}).send(_probe_message())
        assert [m.rcpt_tos for m in catcher.received] == [["ann@example.com"]]

        with pytest.raises(SendFailed) as missing:
            SmtpMailer(smtp, env={}).send(_probe_message())
        assert not missing.value.transient
        assert "TEST_CALSYNC_SMTP_PASSWORD" in str(missing.value)

        with pytest.raises(SendFailed) as wrong:
            SmtpMailer(smtp, env={"TEST_CALSYNC_SMTP_PASSWORD": "nope"}).send(_probe_message())
        assert not wrong.value.transient and "authentication failed" in str(wrong.value)
        assert "nope" not in str(wrong.value)

        untrusted = smtp.model_copy(update={"ca_file": None})
        with pytest.raises(SendFailed, match="certificate not trusted"):
            SmtpMailer(untrusted, env={"TEST_CALSYNC_SMTP_PASSWORD": secret}).send(
                _probe_message()
            )
    assert len(catcher.received) == 1


def test_ssl_mode_speaks_tls_from_the_first_byte(tmp_path: Path, catcher: Catcher) -> None:
    cert, key = self_signed_cert(tmp_path)
    with smtp_server(catcher, ssl_context=server_tls(cert, key)) as port:
        smtp = SmtpSettings(
            host="127.0.0.1", port=port, ssl=True, starttls=False, ca_file=str(cert), timeout=10
        )
        SmtpMailer(smtp).send(_probe_message())
    assert [m.message["Subject"] for m in catcher.received] == ["probe"]


def test_the_two_manager_team_is_valid_config() -> None:
    settings = team_settings(smtp={"host": "127.0.0.1", "port": 25, "starttls": False})
    assert {p.manager for p in settings.pairs} == set(TEAMS)
    assert settings.report.from_address
