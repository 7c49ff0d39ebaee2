"""The engine: sync calendars into the store, evaluate the pairs, plan and perform writes.

``sync`` pulls change sets through the provider ports into the store;
``evaluate`` runs the pure policies over stored history and saves what they
found; ``plan`` turns bumps into make-up and agenda writes queued in the
outbox; ``actions`` are those writes as typed values with one codec;
``outbox`` performs them, each key once. The engine imports the ground,
providers (through their ports), policies and the store; never service or cli.
It records no metrics itself: it returns outcomes and the service counts them.
"""
