"""Serving a ThreadingHTTPServer from a daemon thread: the daemon and both emulators do."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


def serve_in_background(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    """Start answering requests on a daemon thread (it never keeps the process alive)."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
    )
    thread.start()
    return thread


def shut_down(server: ThreadingHTTPServer | None, thread: threading.Thread | None) -> None:
    """Stop serving, release the socket, and wait (briefly) for the thread."""
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)
