"""calsync: keeps recurring one-on-one meetings alive.

The package reads as the pipeline (README "Development" has the map):

- the ground: ``model`` (neutral events), ``timeutil``, ``config`` (typed
  settings), ``secrets``, ``faults`` (crash points for the crash tests);
- ``providers``: each calendar service translated into the neutral model;
- ``store``: what calsync keeps (SQLAlchemy, Alembic migrations);
- ``policies``: pure functions from history, settings and ``now`` to findings;
- ``engine``: sync, evaluate, plan and perform writes through the outbox;
- ``report``: the weekly email;
- ``service``: the daemon loop, its HTTP surface, push channels and metrics;
- ``cli``: one module per ``calsync`` verb;
- ``demo``: the sample team, the one place that starts the emulators.

``tests/test_layering.py`` enforces who may import whom.
"""

__version__ = "0.1.0"
