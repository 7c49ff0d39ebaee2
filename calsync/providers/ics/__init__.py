"""ICS feeds and files: read-only calendars, fetched whole and compared by hash."""
