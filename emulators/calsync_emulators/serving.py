"""What both emulators do as servers: answer HTTP from a daemon thread, start and stop,
and keep the push deliveries they attempted for tests to wait on."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Generic, Self, TypeVar

T = TypeVar("T")


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


class ServedEmulator(ABC):
    """``start``, ``stop`` and ``with`` for an emulator answering HTTP on ``host:port``.

    A subclass calls ``_serve_on`` in its constructor, builds its server in
    ``_new_server`` and, in ``_listening`` and ``_stopped``, starts and stops
    what needs the bound address (push senders, their base URL). Port 0 picks
    a free port, known from ``port`` once started.
    """

    _thread_name = "emulator"

    def _serve_on(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @abstractmethod
    def _new_server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        """The HTTP server of this emulator, bound to ``address``."""

    def _listening(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Called once the server is bound, before it answers."""

    def _stopped(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Called once the server has stopped."""

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = self._new_server((self._host, self._port))
        self._port = self._server.server_address[1]
        self._listening()
        self._thread = serve_in_background(self._server, self._thread_name)
        return self

    def stop(self) -> None:
        shut_down(self._server, self._thread)
        self._server, self._thread = None, None
        self._stopped()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port


class DeliveryLog(Generic[T]):
    """The push deliveries an emulator attempted, in order, under the emulator's lock."""

    def __init__(self, lock: threading.RLock) -> None:
        self._items: list[T] = []
        self._signal = threading.Condition(lock)

    def add(self, item: T) -> None:
        with self._signal:
            self._items.append(item)
            self._signal.notify_all()

    def all(self) -> list[T]:
        with self._signal:
            return list(self._items)

    def wait_for(self, count: int, timeout: float) -> list[T]:
        """Block until at least ``count`` deliveries were attempted (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._signal:
            while len(self._items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._signal.wait(remaining)
            return list(self._items)
