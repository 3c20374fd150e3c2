"""A TCP proxy between the pile and its broker that can fail the way networks do: pass
traffic, swallow it in both directions (packets in flight are lost), or be down (every
connection cut, new ones refused)."""

from __future__ import annotations

import contextlib
import socket
import threading

from rig.broker import free_port


class Proxy:
    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.mode = "up"  # "up", "swallow" or "down"
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: str) -> None:
        self.mode = mode
        if mode == "down":
            with self._lock:
                for s in self._connections:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)  # wakes the pumps and tells both ends
                    s.close()
                self._connections.clear()

    def close(self) -> None:
        self.set("down")
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == "down":
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if self.mode == "up":
                    sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.close()
