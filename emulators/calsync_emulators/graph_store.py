"""The mailboxes of the Graph emulator and the bookkeeping every resource shares.

:class:`Store` holds the mailboxes (the ``/users/{id}`` and ``/calendar``
resources are rendered from them here), each mailbox's items, the copies of
each meeting across mailboxes, ``transactionId`` keys, and the change sequence:
every write goes through :meth:`Store.touch`, :meth:`Store.insert` or
:meth:`Store.remove`, which bump the item's change key, leave tombstones for
delta and queue the change notifications :meth:`Store.flush` hands to the
listener. It takes no lock: :class:`calsync_emulators.graph_state.GraphState`
does, around every public call.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time

from calsync_emulators.graph_errors import GraphError, id_malformed, invalid_user, item_not_found
from calsync_emulators.graph_model import (
    Change,
    Entity,
    Item,
    Mailbox,
    b64,
    item_id,
    occurrence_at,
)
from calsync_emulators.graph_times import DAYS, Json, decode_id, mailbox_tag
from calsync_emulators.zones import resolve_zone


class Store:
    """Mailboxes, their items and the change sequence (see the module docstring)."""

    def __init__(self, *, clock: Callable[[], datetime], id_seed: int) -> None:
        self.clock = clock
        #: Where absolute links point (``http://127.0.0.1:PORT``); the HTTP layer sets it.
        self.base_url = "https://graph.microsoft.com"
        #: Called (under the lock) with the changes each write made.
        self.listener: Callable[[list[Change]], None] | None = None
        #: Mailboxes by lower-case address.
        self.mailboxes: dict[str, Mailbox] = {}
        #: Meeting (iCalUId) -> {mailbox key: serial of its copy there}.
        self.meetings: dict[str, dict[str, int]] = {}
        #: (mailbox key, transactionId) -> serial of the item created with it.
        self.transactions: dict[tuple[str, str], int] = {}
        #: The change sequence: bumped by every write, read by delta tokens.
        self.seq = 0
        self._rng = random.Random(id_seed)
        self._by_user_id: dict[str, str] = {}
        self._by_tag: dict[bytes, str] = {}
        self._serial = 0
        self._pending: list[Change] = []

    def now(self) -> datetime:
        value = self.clock()
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def random(self, size: int) -> bytes:
        return self._rng.getrandbits(size * 8).to_bytes(size, "big")

    def flush(self) -> None:
        changes, self._pending = self._pending, []
        if changes and self.listener is not None:
            self.listener(changes)

    def add_mailbox(
        self,
        upn: str,
        name: str | None = None,
        *,
        time_zone: str = "UTC",
        working_days: Iterable[str] | None = None,
        working_start: str = "08:00",
        working_end: str = "17:00",
    ) -> Mailbox:
        """Create a mailbox (idempotent); ``time_zone`` is a Windows or IANA name."""
        if not isinstance(upn, str) or "@" not in upn:
            raise ValueError(f"a mailbox needs an address like name@example.com, not {upn!r}")
        resolve_zone(time_zone)
        existing = self.mailboxes.get(upn.lower())
        if existing is not None:
            return existing
        days = tuple(d.lower() for d in (working_days or DAYS[:5]))
        unknown = [d for d in days if d not in DAYS]
        if unknown:
            raise ValueError(f"unknown working day {unknown[0]!r}")
        display = name or upn.split("@", 1)[0].replace(".", " ").title()
        user_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "graph-emulator:" + upn.lower()))
        mailbox = Mailbox(
            upn=upn,
            name=display,
            user_id=user_id,
            tag=mailbox_tag(upn),
            time_zone=time_zone,
            working_days=days,
            working_start=time.fromisoformat(working_start),
            working_end=time.fromisoformat(working_end),
        )
        self.mailboxes[mailbox.key] = mailbox
        self._by_user_id[user_id] = mailbox.key
        self._by_tag[mailbox.tag] = mailbox.key
        return mailbox

    def mailbox_ids(self) -> list[str]:
        return [m.upn for m in self.mailboxes.values()]

    def mailbox(self, user: str) -> Mailbox:
        """The mailbox a ``/users/{id}`` segment names (UPN or user id), else ErrorInvalidUser."""
        key = user.lower()
        found = self.mailboxes.get(key) or self.mailboxes.get(self._by_user_id.get(key, ""))
        if found is None:
            raise invalid_user(user)
        return found

    def find_mailbox(self, address: str | None) -> Mailbox | None:
        if not address:
            return None
        return self.mailboxes.get(str(address).lower())

    def user(self, user: str) -> Json:
        mailbox = self.mailbox(user)
        return {
            "id": mailbox.user_id,
            "displayName": mailbox.name,
            "mail": mailbox.upn,
            "userPrincipalName": mailbox.upn,
        }

    def calendar(self, user: str) -> Json:
        mailbox = self.mailbox(user)
        return {
            "id": b64(b"calendar:" + mailbox.tag),
            "name": "Calendar",
            "color": "auto",
            "isDefaultCalendar": True,
            "changeKey": b64(mailbox.tag),
            "canShare": True,
            "canViewPrivateItems": True,
            "canEdit": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": False,
            "owner": mailbox.address(),
        }

    def new_serial(self) -> int:
        self._serial += 1
        return self._serial

    def touch(self, item: Item, change_type: str = "updated") -> None:
        """Record a write: new change key, modified time, change sequence, notification."""
        self.seq += 1
        item.version = self.seq
        item.changed_seq = self.seq
        item.modified = max(self.now(), item.created)
        mailbox = self.mailboxes[item.mailbox]
        mailbox.version += 1
        self._pending.append(
            Change(mailbox.upn, mailbox.user_id, item_id(item), change_type, item.etag)
        )

    def insert(self, mailbox: Mailbox, item: Item) -> None:
        """Add a new item to a mailbox (and to its meeting's copies): ``created``."""
        mailbox.items[item.serial] = item
        self.meetings.setdefault(item.meeting_key, {})[mailbox.key] = item.serial
        self.touch(item, "created")

    def remove(self, item: Item) -> None:
        """Delete an item: it leaves the calendar and delta reports it ``@removed``."""
        mailbox = self.mailboxes[item.mailbox]
        if mailbox.items.pop(item.serial, None) is None:
            return
        copies = self.meetings.get(item.meeting_key, {})
        if copies.get(mailbox.key) == item.serial:
            copies.pop(mailbox.key)
        if item.transaction_id:
            self.transactions.pop((mailbox.key, item.transaction_id), None)
        self.seq += 1
        mailbox.version += 1
        event_id = item_id(item)
        mailbox.tombstones.append((self.seq, event_id))
        self._pending.append(Change(mailbox.upn, mailbox.user_id, event_id, "deleted", item.etag))

    def copy_in(self, mailbox: Mailbox, goid_key: str) -> Item | None:
        """This mailbox's copy of a meeting, if it has one."""
        serial = self.meetings.get(goid_key, {}).get(mailbox.key)
        return mailbox.items.get(serial) if serial is not None else None

    def resolve(self, mailbox: Mailbox, event_id: str) -> Entity:
        """The entity an id names in this mailbox; 400 malformed / 404 not found."""
        ref = decode_id(event_id)
        if ref is None:
            raise id_malformed()
        if ref.tag != mailbox.tag:
            raise GraphError(
                400, "ErrorInvalidMailboxItemId", "Item Id doesn't belong to the current mailbox."
            )
        item = mailbox.items.get(ref.serial)
        if item is None:
            raise item_not_found()
        if ref.original is None:
            return Entity(item)
        if item.series is None or ref.original in item.deleted:
            raise item_not_found()
        occurrence = occurrence_at(item, ref.original)
        if occurrence is None:
            raise item_not_found()
        return Entity(item, ref.original, occurrence)
