"""Sample data: the demo team's calendars and the builder that writes them."""
