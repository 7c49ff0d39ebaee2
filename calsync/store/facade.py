"""``Store``: the one object callers use, one method per function of the store modules.

Each method is one of the module functions below, bound to the store (the
function takes the store as its first argument), and each is one transaction:
either all of it is committed or none of it is. The modules, one per thing
kept, hold the queries and their documentation:

- ``pairs``: people and pairs from the config;
- ``directory``: people and pairs from the directory sources, with end dates;
- ``calendars``: synced calendars, their cursors, locks and sync errors, and
  ``apply_changes`` with its guard against a snapshot that would wipe a calendar;
- ``events``: reading the stored events back;
- ``health``: each pair's last evaluated occurrences and its findings over time;
- ``outbox``: calendar writes to perform once each;
- ``writes``: the audit log of the writes made (or a dry run would make);
- ``report_sends``: which weekly emails went out (functions only, not methods);
- ``agenda``: the 1:1 pages' topics, notes, action items and sign-in links;
- ``leases``: which worker holds which calendars and manager groups.
"""

from __future__ import annotations

from calsync.store import (
    agenda,
    calendars,
    directory,
    events,
    health,
    leases,
    outbox,
    pairs,
    writes,
)
from calsync.store.base import Database
from calsync.store.db import open_engine


def open_store(url: str) -> Store:
    """Open (creating and migrating when needed) the database at ``url``.

    Accepts ``sqlite:///path.db`` and ``postgresql://user@host/db`` (psycopg 3
    is used without naming it). Raises ``StoreError`` with a readable message.
    """
    return Store(open_engine(url))


class Store(Database):
    """calsync's persistent state. Safe to share across threads; one per process."""

    # -- people and pairs (pairs.py)
    sync_config = pairs.sync_config
    pair_id = pairs.pair_id
    pair_people = pairs.pair_people

    # -- the directory's roster (directory.py)
    directory_roster = directory.directory_roster
    apply_directory = directory.apply_directory

    # -- calendars and their sync state (calendars.py)
    ensure_calendar = calendars.ensure_calendar
    calendar_locks = calendars.calendar_locks
    calendar_ids = calendars.calendar_ids
    cursors = calendars.cursors
    cursor = calendars.cursor
    apply_changes = calendars.apply_changes
    mark_unchanged = calendars.mark_unchanged
    record_error = calendars.record_error
    calendar_status = calendars.calendar_status

    # -- events (events.py)
    events_of = events.events_of
    all_events = events.all_events
    events_for_pairs = events.events_for_pairs

    # -- evaluation results (health.py)
    save_evaluation = health.save_evaluation
    occurrences_of = health.occurrences_of
    open_findings = health.open_findings

    # -- calendar writes (outbox.py)
    enqueue = outbox.enqueue
    requeue = outbox.requeue
    pending = outbox.pending
    outbox_item = outbox.item
    claim = outbox.claim
    mark_done = outbox.mark_done
    complete_writes = outbox.complete
    mark_failed = outbox.mark_failed

    # -- the audit log (writes.py)
    record_write = writes.record_write
    writes = writes.writes

    # -- the 1:1 pages (agenda.py)
    page_id = agenda.page_id
    pair_of_page = agenda.pair_of_page
    topics_of = agenda.topics_of
    add_topic = agenda.add_topic
    edit_topic = agenda.edit_topic
    remove_topic = agenda.remove_topic
    set_discussed = agenda.set_discussed
    move_topic = agenda.move_topic
    notes_of = agenda.notes_of
    save_note = agenda.save_note
    actions_of = agenda.actions_of
    add_action = agenda.add_action
    set_action_done = agenda.set_action_done
    remove_action = agenda.remove_action
    add_signin_token = agenda.add_signin_token
    signin_requests_since = agenda.signin_requests_since
    use_signin_token = agenda.use_signin_token

    # -- several workers (leases.py)
    heartbeat = leases.heartbeat
    claim_leases = leases.claim
    release_leases = leases.release
    worker_shares = leases.shares
