"""A TCP proxy between the pile and its broker that can fail the way networks and bad brokers
do: pass traffic, swallow it in both directions (packets in flight are lost), be down (every
connection cut, new ones refused), or cut every connection and then be a broker that takes new
ones and says nothing ("silent": a hung broker, or a TLS handshake that stalls) or answers
garbage ("garbage": something that is not MQTT on the broker's port). With `mqtt_3_1_1_only` it
is a broker that speaks MQTT 3.1.1 alone, as RabbitMQ 3.10 does: it hangs up on an MQTT 5
CONNECT before any CONNACK."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from rig.broker import free_port


class Proxy:
    def __init__(self, target_port: int, mqtt_3_1_1_only: bool = False):
        self.target_port = target_port
        self.mqtt_3_1_1_only = mqtt_3_1_1_only
        self.refused_mqtt5 = 0
        self.accepted = 0  # connections taken, in any mode
        self.bad_answers = 0  # of those, taken while "silent" or "garbage"
        self.port = free_port()
        self.mode = "up"  # "up", "swallow", "down", "silent" or "garbage"
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def set(self, mode: str) -> None:
        self.mode = mode
        if mode in ("down", "silent", "garbage"):
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
            self.accepted += 1
            if self.mode == "down":
                client.close()
                continue
            if self.mode in ("silent", "garbage"):
                self.bad_answers += 1
                threading.Thread(target=self._answer_badly, args=(client,), daemon=True).start()
                continue
            first = b""
            if self.mqtt_3_1_1_only:
                first = client.recv(65536)
                if is_mqtt5_connect(first):
                    self.refused_mqtt5 += 1
                    client.close()
                    continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            if first:
                upstream.sendall(first)
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _answer_badly(self, client: socket.socket) -> None:
        with self._lock:
            self._connections.append(client)
        with contextlib.suppress(OSError):
            while client.recv(65536):
                if self.mode == "garbage":  # what a web server on the wrong port would say
                    client.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                    client.sendall(bytes(range(256)))
                    time.sleep(0.1)
        with contextlib.suppress(OSError):
            client.close()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if self.mode == "up":
                    sink.sendall(data)
        for s in (source, sink):
            with contextlib.suppress(OSError):
                s.close()


def is_mqtt5_connect(packet: bytes) -> bool:
    """A CONNECT (type 1) whose protocol level, after the name "MQTT", is 5."""
    if not packet or packet[0] >> 4 != 1:
        return False
    i = 1
    while i < len(packet) and packet[i] & 0x80:  # the remaining length's varint
        i += 1
    name_at = i + 1
    return (
        packet[name_at : name_at + 6] == b"\x00\x04MQTT"
        and packet[name_at + 6 : name_at + 7] == b"\x05"
    )


class HangingUp:
    """A broker that reads each CONNECT, answers `answer` (nothing, or a CONNACK) and hangs
    up: as RabbitMQ 3.10 does to an MQTT 5 CONNECT (before any CONNACK), or to a client that
    breaks its ACL (after one). `accepted` holds when each connection ended."""

    def __init__(self, answer: bytes = b""):
        self.answer = answer
        self.accepted: list[float] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                peer, _ = self._listener.accept()
            except OSError:
                return
            with contextlib.suppress(OSError):
                peer.recv(65536)  # the CONNECT
                if self.answer:
                    peer.sendall(self.answer)
                    time.sleep(0.05)  # read before the hang-up, as a broker's would be
            peer.close()
            self.accepted.append(time.monotonic())
