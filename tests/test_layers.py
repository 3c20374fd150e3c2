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
