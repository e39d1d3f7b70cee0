"""A loopback TCP forwarder that can be cut: one process on the wrong side of a network partition.

The process under test is pointed at the proxy (its kubeconfig's ``server``); the proxy forwards bytes to the real
server (TLS passes through untouched, so certificates and client authentication work as before). ``cut()`` drops
every byte from then on, in both directions, and holds new connections without ever forwarding them: the client
sees what a partition looks like — requests that never get an answer — not a refused connection. ``heal()``
closes whatever was held during the cut (the client reconnects) and forwards again.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

_POLL = 0.2  # how often blocked reads look at the flags


class PartitionableProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(_POLL)
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.connections = 0

    @property
    def port(self) -> int:
        return int(self._server.getsockname()[1])

    def start(self) -> PartitionableProxy:
        self._spawn(self._accept)
        return self

    def cut(self) -> None:
        self._cut.set()

    def heal(self) -> None:
        with self._lock:
            held = list(self._sockets)
        for sock in held:
            _close(sock)
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.heal()
        _close(self._server)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> PartitionableProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------------

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.update(socks)
        for sock in socks:
            sock.settimeout(None)  # blocking writes: a slow reader slows the pump, never breaks it

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self._cut.is_set():
                self._track(client)
                self._spawn(self._pump, client, None)  # held: read and dropped, never forwarded
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            self._track(client, upstream)
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket | None) -> None:
        try:
            while not self._closed.is_set():
                readable, _, _ = select.select([source], [], [], _POLL)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    break
                if sink is not None and not self._cut.is_set():
                    sink.sendall(data)
        except (OSError, ValueError):  # closed under us by heal() or close()
            pass
        finally:
            for sock in (source, sink):
                if sock is not None:
                    _close(sock)
                    with self._lock:
                        self._sockets.discard(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
