"""calsync: keeps recurring one-on-one meetings alive."""

__version__ = "0.1.0"
