"""Calendar providers: each translates one calendar service into the neutral model.

``base`` holds the ports (reading, batch reading, writing, push, closing) and
the typed errors; ``expand`` is the one recurrence expansion every provider
shares, so a cancelled or moved instance means the same thing everywhere;
``ics``, ``google`` and ``outlook`` are one subpackage per service; ``factory``
builds the configured readers. Providers import only the ground (model,
timeutil, config, secrets) and each other's shared modules here: never
policies, store, engine, service or cli.
"""
