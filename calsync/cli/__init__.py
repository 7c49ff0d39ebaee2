"""The ``calsync`` command: one module per verb, shared helpers in ``common``.

Importing a verb module registers it on the click group in ``main``. The
command line is the top of the stack: it may import everything, nothing
imports it.
"""
