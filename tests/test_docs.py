"""The docs describe the code as it is."""

from pathlib import Path

from pile_controller import config
from pile_controller.backend.mqtt.schemas import command_names
from pile_controller.core.diagram import mermaid, pilot_rules

DOCS = Path(__file__).resolve().parent.parent / "docs"


def keys(schema: dict[str, config.Key], prefix: str = "") -> list[str]:
    out = []
    for name, key in schema.items():
        out.append(prefix + name)
        if key.table is not None:
            out += keys(key.table, f"{prefix}{name}.")
    return out


def test_the_state_diagram_in_the_docs_is_the_machines() -> None:
    assert mermaid() in (DOCS / "STATES.md").read_text()


def test_the_pilots_rules_in_the_docs_are_the_cores() -> None:
    assert pilot_rules() in (DOCS / "STATES.md").read_text()


def test_every_config_key_is_documented() -> None:
    text = (DOCS / "CONFIG.md").read_text()
    forms = ("`{}`", "`[{}]`", "`[[{}]]`")
    missing = [k for k in keys(config.SCHEMA) if not any(f.format(k) in text for f in forms)]
    assert missing == []


def test_every_command_has_a_schema_and_a_section() -> None:
    text = (DOCS / "PROTOCOL.md").read_text()
    assert command_names() == {
        "reserve",
        "cancel_reservation",
        "start",
        "stop",
        "payment",
        "tariff",
        "availability",
        "unlock",
        "trigger",
        "limit",
        "diagnostics",
        "update",
    }
    assert [n for n in command_names() if f"### `{n}`" not in text] == []


def defaults(schema: dict[str, config.Key], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for name, key in schema.items():
        if key.table is not None:
            out |= defaults(key.table, f"{prefix}{name}.")
        elif key.default is not None and key.default != []:
            out[prefix + name] = key.default
    return out


def test_every_default_in_the_docs_is_the_settings_own() -> None:
    # One source of truth: a default changed in pile_controller/config.py and not here fails.
    rows = {}
    for line in (DOCS / "CONFIG.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) >= 3 and cells[0].startswith("`"):
            for name in cells[0].replace("`", "").split(","):
                rows[name.strip()] = cells[2]
    shown = {
        key: f'`"{value}"`' if isinstance(value, str) else str(value).lower()
        for key, value in defaults(config.SCHEMA).items()
    }
    wrong = {key: (rows.get(key), want) for key, want in shown.items() if rows.get(key) != want}
    assert wrong == {}


def test_the_hardware_pin_table_is_the_shipped_examples() -> None:
    s = config.load(DOCS.parent / "config.rpi.toml")
    text = (DOCS / "HARDWARE.md").read_text()
    for c in s.connectors:
        assert c.pins is not None
        p = c.pins
        order = [p.relay, p.relay_feedback, p.lock, p.unlock, p.lock_feedback, p.stop_button]
        pins = ", ".join(str(pin.pin) for pin in order if pin is not None)
        assert f"| {pins} |" in text, pins
    assert s.hal.estop is not None and f"| {s.hal.estop.pin} | e-stop loop" in text
