"""Persistence: SQLite by default, PostgreSQL for teams, one schema via Alembic.

Use ``open_store(url)``; everything else goes through the returned ``Store``.
"""

# report_sends: its import registers the report_sends table on the models' metadata.
from calsync.store import report_sends
from calsync.store.db import StoreError
from calsync.store.repo import (
    ApplyStats,
    CalendarStatus,
    OpenFinding,
    OutboxItem,
    Store,
    SuspiciousSnapshot,
    open_store,
)

__all__ = [
    "ApplyStats",
    "CalendarStatus",
    "OpenFinding",
    "OutboxItem",
    "Store",
    "StoreError",
    "SuspiciousSnapshot",
    "open_store",
    "report_sends",
]
