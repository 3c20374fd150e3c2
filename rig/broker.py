"""Real MQTT brokers on free loopback ports, started and stopped by the rig: mosquitto (MQTT 5),
and the two 3.1.1-only brokers operators also run, NATS (its MQTT gateway over JetStream) and
RabbitMQ (its rabbitmq_mqtt plugin). Each keeps its data in its workdir, so retained messages
and persistent sessions survive `stop()` and `start()` again on the same port."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str, *also: str) -> str:
    found = shutil.which(name) or next((p for p in also if Path(p).exists()), None)
    if found is None:
        raise RuntimeError(f"{name} is not installed (scripts/bootstrap installs it)")
    return found


def mosquitto_binary() -> str:
    return binary("mosquitto", "/usr/sbin/mosquitto")


class Broker:
    """mosquitto, as most of the suite runs it."""

    name = "mosquitto"
    mqtt_version = "5"  # the newest the broker speaks: what a rig's backend connects with
    start_timeout = 10.0

    def __init__(self, workdir: Path, port: int | None = None, options: str | None = None):
        """`options`: the broker's own config lines for its listener (mosquitto: anonymous
        access unless given, e.g. TLS or a password file and ACL)."""
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.configure(options)

    def configure(self, options: str | None) -> None:
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            + (options if options is not None else "allow_anonymous true\n")
            + "persistence true\n"  # retained messages and sessions survive a broker restart
            f"persistence_location {self.workdir}/\n"
            "max_queued_messages 10000\n"
            "set_tcp_nodelay true\n"  # as a latency-minded operator would run it
            # Started as root, mosquitto would drop to its own user and then fail to save its
            # persistence file here: sessions would not survive a broker restart.
            f"user {getpass.getuser()}\n"
        )

    def command(self) -> list[str]:
        return [mosquitto_binary(), "-c", str(self.conf)]

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> Broker:
        log = open(self.workdir / f"{self.name}.log", "ab")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=log, env=self.environment()
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"{self.name} exited: see {self.workdir}/{self.name}.log"
                    ) from None
                time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not listen on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class Nats(Broker):
    """nats-server with JetStream and its MQTT listener (MQTT 3.1.1 only)."""

    name = "nats"
    mqtt_version = "3.1.1"

    def configure(self, options: str | None) -> None:
        self.conf = self.workdir / "nats.conf"
        self.conf.write_text(
            f"listen: 127.0.0.1:{free_port()}\n"
            "server_name: rig\n"
            f'jetstream {{ store_dir: "{self.workdir}/jetstream" }}\n'
            f"mqtt {{ listen: 127.0.0.1:{self.port} }}\n" + (options or "")
        )

    def command(self) -> list[str]:
        return [binary("nats-server", "/usr/sbin/nats-server"), "-c", str(self.conf)]


class Rabbit(Broker):
    """rabbitmq-server with the rabbitmq_mqtt plugin (MQTT 3.1.1 only in 3.10), as its own
    Erlang node: a node name, distribution port and epmd port of its own, so that it neither
    meets a system RabbitMQ nor needs root."""

    name = "rabbitmq"
    mqtt_version = "3.1.1"
    start_timeout = 60.0  # the Erlang node boots in 10-15 s here

    def configure(self, options: str | None) -> None:
        self.conf = self.workdir / "rabbitmq.conf"
        self.conf.write_text(
            "listeners.tcp = none\n"  # no AMQP: only MQTT is wanted
            f"mqtt.listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "mqtt.allow_anonymous = true\n"
            "loopback_users = none\n" + (options or "")
        )
        (self.workdir / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        for folder in ("mnesia", "log"):
            (self.workdir / folder).mkdir(exist_ok=True)
        self.dist_port, self.epmd_port = free_port(), free_port()

    def command(self) -> list[str]:
        # The script itself, not /usr/sbin's wrapper, which would switch to the rabbitmq user.
        script = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
        return [str(script) if script.exists() else binary("rabbitmq-server")]

    def environment(self) -> dict[str, str]:
        w = self.workdir
        return {
            **os.environ,
            "HOME": str(w),  # the Erlang cookie
            "RABBITMQ_NODENAME": f"rig{self.port}@localhost",
            "RABBITMQ_CONFIG_FILE": str(self.conf),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(w / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(w / "mnesia"),
            "RABBITMQ_LOG_BASE": str(w / "log"),
            "RABBITMQ_PID_FILE": str(w / "rabbitmq.pid"),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_CRASH_DUMP": str(w / "erl_crash.dump"),
        }

    def stop(self) -> None:
        super().stop()
        # The node's epmd daemon outlives it, holding a port: a suite would leave dozens.
        subprocess.run(
            [binary("epmd", "/usr/lib/erlang/bin/epmd"), "-kill"],
            env=self.environment(),
            check=False,
            capture_output=True,
        )


BROKERS: dict[str, type[Broker]] = {b.name: b for b in (Broker, Nats, Rabbit)}
