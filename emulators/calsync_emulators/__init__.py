"""Local emulators of the calendar providers calsync talks to.

They are part of the product, like moto is for AWS: the demo runs on them,
every provider test talks to them over real HTTP, and users try their
configuration against them. Each one reproduces the documented behaviour of
its provider (paging, sync tokens and their expiry, cancelled instances,
etags, rate limits) and has switches to inject faults.

This package imports nothing from ``calsync``, and none of the tables the
product maps through: it has its own zone table
(:mod:`calsync_emulators.windows_zones`) and its own recurrence expansion
(:mod:`calsync_emulators.google_recurrence`). A fake that shares the product's
mapping code agrees with the product's bugs and so cannot catch them; the
emulators must follow the providers' documentation instead. A test in
``tests/test_emulator_graph.py`` keeps it so.

Each emulator's module docstring lists what it reproduces and where it
chose a behaviour the provider leaves undocumented. For example
:mod:`calsync_emulators.google` serves the Google Calendar API v3
(``python -m calsync_emulators.google --port N --seed FILE``).
"""
