"""The screens' font, found through fontconfig when the display opens: no Pillow yet (the
first picture imports it, after the boot's birth), and a missing font is one line at start."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path


class FontError(Exception):
    pass


@cache
def find_font(name: str) -> Path:
    """The file of font family `name`, through fontconfig; FontError naming it if missing."""
    if shutil.which("fc-match") is None:
        raise FontError(f"font {name!r}: fontconfig (fc-match) is not installed")
    found = subprocess.run(
        ["fc-match", "-f", "%{family}\n%{file}", name], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    if len(found) < 2 or name.lower() not in found[0].lower():
        raise FontError(f"font {name!r} is not installed (Debian: fonts-wqy-microhei)")
    return Path(found[1])
