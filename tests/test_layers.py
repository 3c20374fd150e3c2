"""hal is the lower layer: no module under hal/ imports anything of pile_controller, so the
hardware can be read, reused and tested alone (ARCHITECTURE: the house)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_module_under_hal_imports_pile_controller() -> None:
    upward = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / "hal").rglob("*.py"))
        for name in imported(path)
        if name.split(".")[0] == "pile_controller"
    }
    assert upward == set()


def loaded_by_a_pile(protocol: str, tmp_path: Path) -> set[str]:
    """The modules a daemon assembled for `protocol` has loaded (in a fresh interpreter)."""
    import json
    import subprocess
    import sys

    from rig.pile import PileProcess
    from tests.e2e.ocpp_rig import ocpp_options

    options = ocpp_options("ws://127.0.0.1:9/ocpp", protocol=protocol) if protocol != "mqtt" else {}
    config = PileProcess(tmp_path, 1, connectors=1, **options).config
    script = (
        "import asyncio, json, pathlib, sys\n"
        "from pile_controller import config\n"
        "from pile_controller.screen.display import NoDisplay\n"
        "from pile_controller.service.hardware import open_hardware\n"
        "from pile_controller.service.start import assemble, link_credentials\n"
        f"settings = config.load(pathlib.Path({str(config)!r}))\n"
        "tls, password = link_credentials(settings)\n"
        "async def main():\n"
        "    assemble(settings, open_hardware(settings), NoDisplay(), tls, password)\n"
        "asyncio.run(main())\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout))


def test_an_mqtt_pile_loads_nothing_of_ocpp_and_an_ocpp_pile_nothing_of_paho(
    tmp_path: Path,
) -> None:
    mqtt = loaded_by_a_pile("mqtt", tmp_path / "mqtt")
    assert "paho.mqtt.client" in mqtt
    assert not {m for m in mqtt if m.startswith(("pile_controller.backend.ocpp", "wsproto", "h11"))}
    ocpp = loaded_by_a_pile("ocpp1.6", tmp_path / "ocpp")
    assert "pile_controller.backend.ocpp.v16.link" in ocpp
    ocpp2 = loaded_by_a_pile("ocpp2.0.1", tmp_path / "ocpp2")
    assert "pile_controller.backend.ocpp.v201.link" in ocpp2
    for pile in (ocpp, ocpp2):
        assert not {m for m in pile if m.startswith(("paho", "ocpp.", "websockets", "jsonschema"))}
        assert "ocpp" not in pile  # the schemas are read from its folder, never imported
    assert not {m for m in ocpp if "v201" in m} and not {m for m in ocpp2 if "v16" in m}
    # Updates (CONTRACT 12) cost a boot nothing: their machinery comes with the first update.
    for pile in (mqtt, ocpp, ocpp2):
        assert "pile_controller.fleet.releases" in pile  # the trial's check, at every start
        machinery = {"pile_controller.fleet.update", "pile_controller.fleet.release"}
        assert not (machinery | {"tarfile"}) & pile
