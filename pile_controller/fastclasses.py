"""Dataclasses built faster at boot (issue #20: boot at 25 % of a core).

Python 3.11 builds every method of a dataclass (`__init__`, `__repr__`, `__eq__`, a frozen
one's `__setattr__`, ...) by compiling generated source, one `exec` each: 99 ms of the
daemon's 220 ms of imports here, for 122 classes, four times that on a quarter of a core. The
source is the same at every boot, so its compiled code is kept in a file beside the package,
written once per release (`pile-controller prepare`, run by scripts/install and by an
update), and `dataclasses._create_fn` takes the code from it instead of compiling. What
the file does not hold is compiled as before; a file of another Python is not read. Nothing
changes what a dataclass is: the same text gives the same code.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import marshal
import os
import sys
from pathlib import Path
from types import CodeType
from typing import Any

CACHE = Path(__file__).with_name("_dataclasses.cache")
MAGIC = importlib.util.MAGIC_NUMBER  # the code objects' Python
# Python 3.11's `dataclasses._create_fn`, whose text and calling convention this repeats
# (3.12 keeps it; 3.13 builds the methods of a class in one exec and needs none of this).
SUPPORTED = sys.version_info[:2] in ((3, 11), (3, 12))

_compiled: dict[str, CodeType] = {}


def create_fn(
    name: str,
    args: list[str],
    body: list[str],
    *,
    globals: dict[str, Any] | None = None,  # noqa: A002 - dataclasses' own names
    locals: dict[str, Any] | None = None,  # noqa: A002
    return_type: Any = dataclasses.MISSING,
) -> Any:
    if locals is None:
        locals = {}
    return_annotation = ""
    if return_type is not dataclasses.MISSING:
        locals["_return_type"] = return_type
        return_annotation = "->_return_type"
    body_text = "\n".join(f"  {b}" for b in body)
    txt = f" def {name}({','.join(args)}){return_annotation}:\n{body_text}"
    txt = f"def __create_fn__({', '.join(locals.keys())}):\n{txt}\n return {name}"
    code = _compiled.get(txt)
    if code is None:
        code = _compiled[txt] = compile(txt, "<string>", "exec")
    ns: dict[str, Any] = {}
    exec(code, globals, ns)
    return ns["__create_fn__"](**locals)


def install() -> None:
    """Dataclasses made from here on take their code from the cache (if there is one)."""
    if not SUPPORTED or not hasattr(dataclasses, "_create_fn"):
        return
    try:
        magic, compiled = marshal.loads(CACHE.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        compiled, magic = {}, MAGIC  # none yet: compiled as they come, as before
    if magic == MAGIC:
        _compiled.update(compiled)
    dataclasses._create_fn = create_fn


def forget() -> None:
    """Lets go of the cache once the boot's classes are made (a class made later, by an
    update, compiles its own, as before)."""
    _compiled.clear()


def build() -> int:
    """Imports what a field pile's boot imports and writes the code of every dataclass method
    it made; returns how many."""
    install()
    import hal.modbus  # noqa: F401 - the meters, pymodbus
    import pile_controller.backend.ocpp.v16.link  # noqa: F401
    import pile_controller.screen.display  # noqa: F401
    import pile_controller.service.start  # noqa: F401
    import pile_controller.technician.cli  # noqa: F401

    new = CACHE.with_suffix(".new")
    new.write_bytes(marshal.dumps((MAGIC, _compiled)))
    os.replace(new, CACHE)
    return len(_compiled)
