"""The MQTT connection, run on the daemon's asyncio loop (paho's socket callbacks, no thread).

It connects, reconnects with exponential backoff and full jitter (so a thousand piles coming back
after a broker restart do not all knock at once), sets the Last Will, and hands incoming messages,
connects and publish acknowledgements to the daemon. It makes no decisions of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hal.backoff import Backoff
from pile_controller.backend import tls as link_tls
from pile_controller.config import BackendSettings
from pile_controller.retry import RateLimit

log = logging.getLogger(__name__)

# A connection counts as up for good once it has lasted this long: only then does the backoff
# start again from its base, and the failures before it end. A broker that accepts and drops
# the pile at once (an ACL or a quota that RabbitMQ enforces by disconnecting) is a failing
# broker, retried on a growing backoff and logged once a minute, not a reconnect storm with two
# log lines each time.
STABLE_S = 30.0


class Connection:
    def __init__(
        self,
        settings: BackendSettings,
        client_id: str,
        will: tuple[str, bytes],
        tls: ssl.SSLContext | None = None,
    ):
        """`tls`: the context `tls.context()` built from `settings.tls` before the start."""
        self.settings = settings
        self._tls = tls
        self.connected = False
        self.problem: str | None = None  # why the link is down, for `pilectl selftest`
        self._on_connect: Callable[[], None] = lambda: None
        self._on_message: Callable[[mqtt.MQTTMessage], None] = lambda _: None
        self._on_ack: Callable[[int, str | None], None] = lambda _mid, _refusal: None
        self._on_lost: Callable[[], None] = lambda: None
        self._lost = asyncio.Event()
        self._closing = False
        self._failures = RateLimit(every_s=60.0)  # consecutive failed attempts
        self._backoff = Backoff()
        self._write_soon: asyncio.Handle | None = None
        self._writer_added = False
        # "auto" offers MQTT 5 and falls back to 3.1.1 for good (until the next start) if the
        # broker refuses it or hangs up before CONNACK, before any MQTT 5 connection came up.
        self.auto = settings.mqtt_version == "auto"
        self.v5 = settings.mqtt_version in ("5", "auto")
        self._version_known = not self.auto
        self._fall_back = False
        self.client_id, self.will_topic, self._will = client_id, will[0], will
        self._accepted = False  # this attempt's CONNACK came
        self._up_since: float | None = None  # connected, and not yet up for STABLE_S
        self._short_lived = 0  # connections in a row that were dropped before STABLE_S
        self._waiting_since: float | None = None  # connected, waiting for CONNACK since
        self._unanswered = False  # this attempt was given up: no CONNACK in time
        self._last_error = ""  # what paho last logged as an error: the cause of a hang-up
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        settings, will = self.settings, self._will
        # MQTT 3.1.1 has no session expiry: a persistent session is asked for at construction.
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else False,
        )
        client.will_set(will[0], will[1], qos=1, retain=True)
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if self._tls is not None:
            client.tls_set_context(self._tls)
        client.max_inflight_messages_set(100)
        # The TCP connect and the TLS handshake (both in an executor thread, so a stalled
        # broker holds up nothing else); `_misc` gives the CONNACK as long again.
        client.connect_timeout = settings.connect_timeout_s
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = lambda _c, _u, msg: self._on_message(msg)
        client.on_publish = lambda _c, _u, mid, rc, _p: self._on_ack(
            mid,
            str(rc) if rc.is_failure else None,  # only MQTT 5 can say no (an ACL)
        )
        # Socket callbacks may come from the executor thread that connects: hand them over.
        client.on_socket_open = lambda _c, _u, sock: self._soon(self._watch, sock)
        client.on_socket_close = lambda _c, _u, sock: self._soon(self._unwatch, sock)
        client.on_socket_register_write = lambda _c, _u, sock: self._soon(self._want_write, sock)
        client.on_socket_unregister_write = lambda _c, _u, sock: self._soon(self._done_write, sock)
        return client

    def attach(
        self,
        on_connect: Callable[[], None],
        on_message: Callable[[mqtt.MQTTMessage], None],
        on_ack: Callable[[int, str | None], None],
        on_lost: Callable[[], None],
    ) -> None:
        """Says whom to tell of connects, commands, acknowledgements (with the broker's
        reason if it refused the message) and losses."""
        self._on_connect, self._on_message, self._on_ack = on_connect, on_message, on_ack
        self._on_lost = on_lost

    async def run(self) -> None:
        """Keeps the link up until `close()`."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        misc = asyncio.create_task(self._misc())
        try:
            while not self._closing:
                self._lost.clear()
                if self._fall_back:
                    self._fall_back, self.v5 = False, False
                    self.client = self._make_client()
                    self._backoff.reset()  # a new version: try it at once
                try:
                    await self._loop.run_in_executor(None, self._connect)
                    await self._lost.wait()
                except OSError as exc:
                    self._failed(
                        self._tls_failure(str(exc), in_handshake=True)
                        or f"cannot reach broker {self.where()}: {exc.strerror or exc}"
                    )
                if not self._closing:
                    await asyncio.sleep(self._backoff.next())
        finally:
            misc.cancel()

    def publish(
        self,
        topic: str,
        payload: str | bytes,
        qos: int = 1,
        retain: bool = False,
        properties: Properties | None = None,
        now: bool = False,
    ) -> int | None:
        """Publishes if connected; returns the message id paho will acknowledge, else None.
        `now` writes it to the socket at once instead of when the loop next gets to it."""
        if not self.connected:
            return None
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if now:
            self.client.loop_write()
        return info.mid if info.rc == mqtt.MQTT_ERR_SUCCESS else None

    def subscribe(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)

    def close(self, last_words: tuple[str, bytes] | None = None) -> None:
        """Says goodbye (publishing `last_words` first) and stops reconnecting."""
        self._closing = True
        if self.connected and last_words is not None:
            self.client.publish(last_words[0], last_words[1], qos=1, retain=True)
            self.client.loop_write()
        self.client.disconnect()
        self._lost.set()

    # --- paho plumbing -------------------------------------------------------------------------

    def _connect(self) -> None:
        self._accepted, self._unanswered, self._last_error = False, False, ""
        self._waiting_since = None
        # paho's own words on why a connection fails before CONNACK (a TLS alert comes only
        # there); not kept on afterwards, when paho would format a line for every packet.
        self.client.on_log = self._noted
        where = (self.settings.host or "", self.settings.port)
        if not self.v5:
            self.client.connect(*where, keepalive=self.settings.keepalive_s)
        else:
            props = Properties(PacketTypes.CONNECT)
            # The session (our subscription and the commands queued on it) outlives an outage
            # or a daemon restart, but no longer than a command stays fresh.
            props.SessionExpiryInterval = self.settings.max_clock_skew_s
            self.client.connect(
                *where, keepalive=self.settings.keepalive_s, clean_start=False, properties=props
            )
        self._waiting_since = time.monotonic()

    def _connected(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._accepted = True  # a CONNACK, even a refusal (which says why itself)
        if reason.is_failure:
            if self._may_fall_back() and "protocol version" in str(reason).lower():
                self._fall_back = True
            else:
                self._failed(f"broker refused the connection: {reason}")
            self._soon(self._lost.set)
            return
        self.client.on_log = None
        version = "MQTT 5" if self.v5 else "MQTT 3.1.1"
        if not self._version_known:  # said once: the choice holds until the next start
            self._version_known = True
            log.info("backend link speaks %s with %s", version, self.where())
        if not self._failures.count and not self._short_lived:  # else said once it stays up
            log.info("backend link up (%s, %s)", self.where(), version)
        self._up_since = time.monotonic()
        self.connected, self.problem = True, None
        # paho calls this before it re-sends what was in flight when the link dropped; what
        # we publish on connect must queue after those, or events would overtake older ones.
        self._loop.call_soon(self._on_connect)

    def _disconnected(self, _c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if self.connected:
            self.problem = f"link lost: {reason}"
            if self._up_since is None or not (self._short_lived or self._failures.count):
                log.warning("backend link lost: %s", reason)  # the first loss is news
            else:
                lasted = time.monotonic() - self._up_since
                self._failed(
                    f"broker {self.where()} dropped the connection {lasted:.1f} s after "
                    f"accepting it, {self._short_lived + 1} times in a row: {reason}"
                )
            if self._up_since is not None:
                self._short_lived += 1
            self._up_since = None
            self._soon(self._on_lost)
        elif not self._accepted and not self._closing:
            self._failed_before_connack(str(reason))
        self.connected = False
        self._soon(self._lost.set)

    def _failed_before_connack(self, reason: str) -> None:
        """Closed before CONNACK: the broker says nothing of why. Never silent (CONTRACT 9.1)."""
        timeout = self.settings.connect_timeout_s
        if reason == "Protocol error":  # paho could not parse what came back
            self._failed(
                f"broker {self.where()} answered CONNECT with what is not MQTT: likely the "
                "port is another service's, not an MQTT broker's"
            )
        elif self._unanswered:
            self._failed(
                f"broker {self.where()} accepted the connection but did not answer CONNECT "
                f"within {timeout:g} s: likely not an MQTT broker, or one that is overloaded"
            )
        elif why := self._tls_failure(self._last_error, in_handshake=False):
            self._failed(why)
        elif self._may_fall_back():
            log.info("%s hung up on MQTT 5: trying MQTT 3.1.1", self.where())
            self._fall_back = True
        else:
            causes = [
                f"does not speak MQTT {'5' if self.v5 else '3.1.1'}",
                "refused the credentials",
                f"cannot carry the Last Will's topic {self.will_topic!r}",
                *(["wants TLS"] if self._tls is None else []),
            ]
            self._failed(
                f"broker {self.where()} closed the connection before accepting it: likely it "
                f"{', '.join(causes[:-1])}, or {causes[-1]}"
            )

    def _tls_failure(self, error: str, in_handshake: bool) -> str | None:
        timeout = self.settings.connect_timeout_s
        return link_tls.explain(error, self.settings.tls, self.where(), timeout, in_handshake)

    def _noted(self, _c: Any, _u: Any, level: int, text: str) -> None:
        if level == mqtt.MQTT_LOG_ERR and not self._last_error:  # the first: the cause
            self._last_error = text

    def _may_fall_back(self) -> bool:
        return self.auto and self.v5 and not self._version_known

    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def _failed(self, why: str) -> None:
        self.problem = why
        if self._failures.seen():
            log.warning("%s (retrying with backoff)", why)

    async def _misc(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.client.socket() is None:
                continue
            self.client.loop_misc()  # keepalive pings, and noticing a silent broker
            up = self._up_since
            if self.connected and up is not None and time.monotonic() - up >= STABLE_S:
                self._up_since, self._short_lived = None, 0
                self._backoff.reset()
                if failed := self._failures.clear():
                    log.info("backend link up again after %d failed attempts", failed)
            since, timeout = self._waiting_since, self.settings.connect_timeout_s
            if not self._accepted and since is not None and time.monotonic() - since > timeout:
                # A broker that took the connection and says nothing: hang up, and paho
                # reports the loss. Without this paho would wait out the keepalive.
                self._unanswered, self._waiting_since = True, None
                self._hang_up()

    def _soon(self, fn: Callable[..., None], *args: Any) -> None:
        """Runs `fn` on the loop: now if we are on it (a closing socket must be unwatched before
        paho closes it), else as soon as the loop gets to it."""
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def _watch(self, sock: Any) -> None:
        # A reply follows a status and an event within a millisecond: without this, Nagle's
        # algorithm holds it back until the broker's delayed ACK, tens of milliseconds later.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._loop.add_reader(sock, self._read)

    def _unwatch(self, sock: Any) -> None:
        self._loop.remove_reader(sock)
        self._done_write(sock)
        if self._write_soon is not None:
            self._write_soon.cancel()
            self._write_soon = None

    def _want_write(self, _sock: Any) -> None:
        # paho has queued a packet. Write everything queued once the callbacks now running are
        # done (a reply has been written already by `publish(now=True)`), and watch the socket
        # only if it is full: two epoll changes per message cost more than the message.
        if self._write_soon is None:
            self._write_soon = self._loop.call_soon(self._write)

    def _write(self) -> None:
        self._write_soon = None
        self.client.loop_write()
        sock = self.client.socket()  # None if the link dropped meanwhile
        if sock is not None and self.client.want_write() and not self._writer_added:
            self._loop.add_writer(sock, self.client.loop_write)
            self._writer_added = True

    def _done_write(self, sock: Any) -> None:
        if self._writer_added:
            self._loop.remove_writer(sock)
            self._writer_added = False

    def _read(self) -> None:
        try:
            self.client.loop_read()
        except Exception as exc:  # paho parsing what is not MQTT; the daemon must go on
            self._failed(f"broker {self.where()} sent what is not MQTT ({exc!r}): hanging up")
            self._hang_up()

    def _hang_up(self) -> None:
        """Ends this connection under paho, which then reports the loss as it always does."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):  # an ssl.SSLSocket is one too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
