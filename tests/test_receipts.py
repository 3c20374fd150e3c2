"""`pilectl receipt verify`: each way a receipt or its key can be wrong is one line and exit 1."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pile_controller.signing import PileKey
from pile_controller.technician.cli import main

FACTS = {
    "pile": "PILE-1",
    "connector": 1,
    "transaction_id": "PILE-1-0123456789abcdef",
    "id_token": "alice",
    "started_at": "2026-12-01T10:00:00.000Z",
    "stopped_at": "2026-12-01T11:00:00.000Z",
    "meter_start_wh": 1000,
    "meter_stop_wh": 6250,
    "energy_wh": 5250,
    "cost": {"total": "10.50", "currency": "CNY", "tariff_id": "T"},
    "meter": {"model": "em340", "vendor": "Carlo Gavazzi", "serial": "235411W"},
}


@pytest.fixture
def key(tmp_path: Path) -> PileKey:
    return PileKey.load_or_create(tmp_path / "pile.key")


def signed(key: PileKey, facts: dict[str, Any]) -> dict[str, Any]:
    return {**facts, "sig": key.sign(facts)}


Verify = Callable[..., tuple[int, str, str]]


@pytest.fixture
def verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Verify:
    """Runs `pilectl receipt verify` on `document` (written to a file); (exit, out, err)."""

    def run(document: Any, *key_args: str) -> tuple[int, str, str]:
        path = tmp_path / "doc.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        code = main(["receipt", "verify", str(path), *key_args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_a_good_receipt_in_any_of_its_wrappings(verify: Verify, key: PileKey) -> None:
    receipt = signed(key, FACTS)
    for document in (receipt, {"data": {"receipt": receipt}}, {"receipt": receipt}):
        code, out, err = verify(document, "--public-key", key.public_b64)
        assert (code, err) == (0, "")
        assert "receipt OK: pile PILE-1 connector 1" in out
        assert "(meter Carlo Gavazzi em340 serial 235411W)" in out


@pytest.mark.parametrize(
    ("document", "line"),
    [
        ("{nope", "the receipt is not JSON: "),
        ({"type": "transaction.started"}, "no receipt in it: want a receipt or a transaction"),
    ],
)
def test_what_is_not_a_receipt(verify: Verify, key: PileKey, document: Any, line: str) -> None:
    code, _, err = verify(document, "--public-key", key.public_b64)
    assert code == 1 and err.startswith(f"pilectl: {line}") and err.count("\n") == 1


def test_a_receipt_that_does_not_add_up_though_signed(verify: Verify, key: PileKey) -> None:
    code, _, err = verify(signed(key, {**FACTS, "energy_wh": 5000}), "--public-key", key.public_b64)
    assert (code, err) == (
        1,
        "pilectl: energy_wh 5000 is not meter_stop_wh 6250 - meter_start_wh 1000\n",
    )


def test_the_birth_names_the_key_and_the_pile(verify: Verify, key: PileKey, tmp_path: Path) -> None:
    birth = tmp_path / "birth.json"
    birth.write_text(
        json.dumps({"v": 1, "online": True, "pile": "PILE-2", "public_key": key.public_b64})
    )
    code, _, err = verify(signed(key, FACTS), "--birth", str(birth))
    assert (code, err) == (1, "pilectl: signed by pile 'PILE-1', not 'PILE-2' of the birth\n")
    birth.write_text(json.dumps({"v": 1, "online": False, "pile": "PILE-1"}))  # a Last Will
    code, _, err = verify(signed(key, FACTS), "--birth", str(birth))
    assert (code, err) == (1, "pilectl: the birth message has no public_key (is it P/ID/online?)\n")


@pytest.mark.parametrize(
    ("given", "line"),
    [
        ("not base64!", "--public-key: must be base64"),
        ("AAAA", "--public-key: must be a raw 32-byte Ed25519 key, got 3 bytes"),
    ],
)
def test_a_key_that_is_no_key(verify: Verify, key: PileKey, given: str, line: str) -> None:
    code, _, err = verify(signed(key, FACTS), "--public-key", given)
    assert code == 1 and err.startswith(f"pilectl: {line}")


def test_a_missing_file(key: PileKey, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.json"
    assert main(["receipt", "verify", str(missing), "--public-key", key.public_b64]) == 1
    assert capsys.readouterr().err == f"pilectl: {missing}: No such file or directory\n"
