"""Which weekly emails went out: one row per (manager, ISO week), claimed before sending.

The protocol, for every sender (the daemon, ``calsync report --send``, a
second worker):

1. **claim**: insert the row in state ``sending`` (``INSERT ... ON CONFLICT DO
   NOTHING``), or move an existing ``failed`` row whose retry is due back to
   ``sending`` with a conditional ``UPDATE``. Both are single statements that
   the unique (manager, week) key and the row lock make race-free on SQLite
   and PostgreSQL: of two workers, exactly one gets the claim.
2. **send** the email (its Message-ID is derived from manager and week, so
   even a deliberate resend is recognisable as the same message).
3. **mark** the row ``sent``, or ``failed`` with the error and when to retry
   (``next_attempt_at``; NULL = no automatic retry).

A row left in ``sending`` means a sender stopped between claim and mark (a
crash, a kill during the SMTP conversation): the email may or may not have
been accepted. calsync chooses **at most once**: such a row is never resent
automatically; ``report_problems`` (``calsync doctor``) shows it after a grace
period, and ``calsync report --send --resend`` sends it again on purpose.

The same ledger keeps the nudges before each 1:1 (``kind = "nudge"``,
:mod:`calsync.report.nudge`): one row per (recipient, key), claimed the same
way. ``sends`` and ``latest_sends`` read one kind (the weekly email by default).

Functions take the store and run one transaction each, like its methods; the
table is ``models.ReportSendRow``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from calsync.model import normalize_email
from calsync.store import codec
from calsync.store.base import Database, utc
from calsync.store.models import SEND_STATES, ReportSendRow

WEEKLY = "weekly"
NUDGE = "nudge"
KINDS = (WEEKLY, NUDGE)


@dataclass(frozen=True, slots=True)
class SendRecord:
    manager: str
    week: str
    state: str
    message_id: str
    attempts: int
    last_error: str | None
    claimed_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    kind: str = WEEKLY


def _record(row: ReportSendRow) -> SendRecord:
    return SendRecord(
        manager=row.manager,
        week=row.week,
        state=row.state,
        message_id=row.message_id,
        attempts=row.attempts,
        last_error=row.last_error,
        claimed_at=row.claimed_at,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        kind=row.kind,
    )


def get_send(store: Database, manager: str, week: str) -> SendRecord | None:
    with store.transaction() as session:
        row = session.scalars(
            select(ReportSendRow).where(
                ReportSendRow.manager == normalize_email(manager), ReportSendRow.week == week
            )
        ).one_or_none()
        return None if row is None else _record(row)


def claim_send(
    store: Database,
    manager: str,
    week: str,
    message_id: str,
    now: datetime,
    *,
    ignore_backoff: bool = False,
    resend: bool = False,
    kind: str = WEEKLY,
) -> SendRecord | None:
    """Claim the right to send ``manager``'s email for ``week``; None when it is not ours.

    ``kind``: what the email is (``WEEKLY``, ``NUDGE``); ``week`` is its key in that kind.

    Claimable: no row yet; a ``failed`` row whose ``next_attempt_at`` has come
    (any ``failed`` row with ``ignore_backoff``, for a person running the
    command); with ``resend`` also ``sent`` and ``sending`` rows (a deliberate
    second send). The returned record is in state ``sending`` with the
    attempt counted.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown send kind {kind!r}")
    manager = normalize_email(manager)
    now = utc(now)
    with store.transaction() as session:
        dialect = session.get_bind().dialect.name
        insert_into = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert_into(ReportSendRow)
            .values(
                manager=manager,
                week=week,
                kind=kind,
                state="sending",
                message_id=message_id,
                attempts=1,
                claimed_at=now,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["manager", "week"])
            .returning(ReportSendRow.id)
        )
        inserted = session.execute(statement).first() is not None
        if not inserted:
            mine = (ReportSendRow.manager == manager) & (ReportSendRow.week == week)
            if resend:
                claimable = ReportSendRow.state.in_(SEND_STATES)
            elif ignore_backoff:
                claimable = ReportSendRow.state == "failed"
            else:
                claimable = (ReportSendRow.state == "failed") & (
                    ReportSendRow.next_attempt_at <= now
                )
            result = session.execute(
                update(ReportSendRow)
                .where(mine & claimable)
                .values(
                    state="sending",
                    attempts=ReportSendRow.attempts + 1,
                    message_id=message_id,
                    claimed_at=now,
                    next_attempt_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                return None
        row = session.scalars(
            select(ReportSendRow).where(
                ReportSendRow.manager == manager, ReportSendRow.week == week
            )
        ).one()
        return _record(row)


def mark_sent(store: Database, manager: str, week: str, now: datetime) -> None:
    """The relay accepted the email."""
    now = utc(now)
    _set(
        store,
        manager,
        week,
        state="sent",
        sent_at=now,
        last_error=None,
        next_attempt_at=None,
        updated_at=now,
    )


def mark_failed(
    store: Database,
    manager: str,
    week: str,
    error: str,
    now: datetime,
    retry_at: datetime | None,
) -> None:
    """The send failed; ``retry_at`` is when a sender may try again (None: not automatically)."""
    now = utc(now)
    _set(
        store,
        manager,
        week,
        state="failed",
        last_error=codec.clean(error),
        next_attempt_at=None if retry_at is None else utc(retry_at),
        updated_at=now,
    )


def _set(store: Database, manager: str, week: str, **values: object) -> None:
    with store.transaction() as session:
        result = session.execute(
            update(ReportSendRow)
            .where(ReportSendRow.manager == normalize_email(manager), ReportSendRow.week == week)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise LookupError(f"no report send for {manager} in {week}")


def sends(store: Database, week: str | None = None, kind: str = WEEKLY) -> list[SendRecord]:
    """Every recorded send of ``kind`` (of one week or key), by manager then week."""
    query = (
        select(ReportSendRow)
        .where(ReportSendRow.kind == kind)
        .order_by(ReportSendRow.manager, ReportSendRow.week)
    )
    if week is not None:
        query = query.where(ReportSendRow.week == week)
    with store.transaction() as session:
        return [_record(row) for row in session.scalars(query)]


def latest_sends(store: Database) -> list[SendRecord]:
    """Each manager's most recent week ("YYYY-Www" sorts in time order)."""
    latest: dict[str, SendRecord] = {}
    for record in sends(store):
        latest[record.manager] = record  # ordered by week: the last one wins
    return list(latest.values())


__all__ = [
    "KINDS",
    "NUDGE",
    "SEND_STATES",
    "WEEKLY",
    "ReportSendRow",
    "SendRecord",
    "claim_send",
    "get_send",
    "latest_sends",
    "mark_failed",
    "mark_sent",
    "sends",
]
