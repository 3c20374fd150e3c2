"""The daemon's log in systemd's journal: native protocol datagrams with the connector and the
transaction as fields, used only where systemd connected stderr to the journal."""

import logging
import os
import socket
import struct
from pathlib import Path

from pile_controller.service.journald import JournalHandler, field, under_journal


def datagram_fields(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    while data:
        line, _, rest = data.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            out[key.decode()], data = value.decode(), rest
        else:  # KEY \n <u64 length> value \n
            (length,) = struct.unpack("<Q", rest[:8])
            out[line.decode()], data = rest[8 : 8 + length].decode(), rest[9 + length :]
    return out


def test_a_record_is_one_datagram_with_its_connector_and_transaction(tmp_path: Path) -> None:
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind(str(tmp_path / "journal.sock"))
    handler = JournalHandler(str(tmp_path / "journal.sock"))
    log = logging.getLogger("pile_controller.test")
    log.addHandler(handler)
    log.warning(
        "connector %d: %s",
        2,
        "stopped\nby the e-stop",
        extra={"connector": 2, "transaction": "TX9"},
    )
    log.removeHandler(handler)
    fields = datagram_fields(journal.recv(65536))
    assert fields == {
        "MESSAGE": "connector 2: stopped\nby the e-stop",
        "PRIORITY": "4",
        "SYSLOG_IDENTIFIER": "pile-controller",
        "LOGGER": "pile_controller.test",
        "CONNECTOR": "2",
        "TRANSACTION_ID": "TX9",
    }
    assert field("A", "b") == b"A=b\n"


def test_only_a_stream_systemd_connected_is_the_journal(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with open(tmp_path / "stderr", "w") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino + 1}")
        assert not under_journal(stream), "another stream: stderr was redirected"
        monkeypatch.delenv("JOURNAL_STREAM")
        assert not under_journal(stream)
