"""The docs describe the code as it is."""

from pathlib import Path

from pile_controller import config
from pile_controller.backend.schemas import command_names
from pile_controller.core.diagram import mermaid

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
    }
    assert [n for n in command_names() if f"### `{n}`" not in text] == []
