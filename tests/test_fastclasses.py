"""Dataclasses made from the compiled-code cache (pile_controller/fastclasses.py) are the
dataclasses Python makes; a cache of another Python is not read; and the cache is what makes
a boot's dataclasses cheap."""

from __future__ import annotations

import dataclasses
import marshal
import subprocess
import sys
from pathlib import Path

import pytest

from pile_controller import fastclasses

pytestmark = pytest.mark.skipif(not fastclasses.SUPPORTED, reason="Python 3.13 needs no cache")


def test_a_class_made_from_cached_code_behaves_as_python_makes_it(tmp_path: Path) -> None:
    script = (
        "import dataclasses, json, sys\n"
        "if sys.argv[1] == 'cached':\n"
        "    from pile_controller import fastclasses\n"
        "@dataclasses.dataclass(frozen=True)\n"
        "class Reading:\n"
        "    energy_wh: int\n"
        "    power_w: float = 0.0\n"
        "    phases: tuple = ()\n"
        "r = Reading(5, 1.5)\n"
        "try:\n"
        "    r.energy_wh = 6\n"
        "    frozen = False\n"
        "except dataclasses.FrozenInstanceError:\n"
        "    frozen = True\n"
        "same = hash(r) == hash(Reading(5, 1.5))\n"
        "print(json.dumps([repr(r), r == Reading(5, 1.5), r == Reading(6), same, frozen]))\n"
    )  # fmt: skip
    runs = [
        subprocess.run([sys.executable, "-c", script, how], capture_output=True, text=True)
        for how in ("plain", "cached")
    ]
    assert runs[0].returncode == runs[1].returncode == 0, runs[1].stderr
    assert runs[0].stdout == runs[1].stdout
    assert (
        '"Reading(energy_wh=5, power_w=1.5, phases=())", true, false, true, true' in runs[0].stdout
    )


def test_the_cache_holds_the_boots_methods_and_another_pythons_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "_dataclasses.cache"
    build = (  # a fresh interpreter: the boot's modules are imported by build() itself
        "from pathlib import Path\n"
        "from pile_controller import fastclasses\n"
        f"fastclasses.CACHE = Path({str(cache)!r})\n"
        "print(fastclasses.build())\n"
    )
    done = subprocess.run([sys.executable, "-c", build], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 300
    magic, compiled = marshal.loads(cache.read_bytes())
    assert magic == fastclasses.MAGIC and len(compiled) == int(done.stdout)
    assert any("__create_fn__" in text and "def __init__" in text for text in compiled)
    # Another Python's cache is not read; what is made meanwhile is compiled as it comes.
    cache.write_bytes(marshal.dumps((b"\0\0\r\n", {"x": compile("1", "", "eval")})))
    monkeypatch.setattr(fastclasses, "CACHE", cache)
    monkeypatch.setattr(fastclasses, "_compiled", {})
    fastclasses.install()
    assert fastclasses._compiled == {}
    made = dataclasses.make_dataclass("Made", [("a", int)], frozen=True)
    assert made(1) == made(1) and len(fastclasses._compiled) > 0
