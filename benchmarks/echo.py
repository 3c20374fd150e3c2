"""A responder that does nothing but answer: the floor under any pile's reply latency.

`python -m benchmarks.echo PORT`: subscribes to `echo/cmd` and publishes each payload straight
back on `echo/replies` (QoS 1, TCP_NODELAY, paho as the pile uses it, in a process of its own).
A command and its reply cross the broker twice; this measures what that costs with no work in
between, so the pile's own share can be read off beside it.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

COMMANDS, REPLIES = "echo/cmd", "echo/replies"


def main() -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="echo", protocol=mqtt.MQTTv5)

    def no_delay(_c: Any, _u: Any, sock: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def answer(c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        c.publish(REPLIES, msg.payload, qos=1)

    client.on_socket_open = no_delay
    client.on_connect = lambda c, *_: c.subscribe(COMMANDS, qos=1)
    client.on_message = answer
    client.connect("127.0.0.1", int(sys.argv[1]))
    client.loop_forever()


if __name__ == "__main__":
    main()
