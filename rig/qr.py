"""Reading QR codes off the pile's screens with a real decoder (zbar's zbarimg)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image


def decode_qr(picture: Image.Image | Path) -> list[str]:
    """Every QR code zbar finds in the picture (an image, or a PNG file)."""
    if shutil.which("zbarimg") is None:
        raise RuntimeError("zbar-tools is not installed (scripts/bootstrap installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(picture, Image.Image):
            path = Path(tmp) / "screen.png"
            picture.save(path)
        else:
            path = picture
        run = subprocess.run(
            ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
    return run.stdout.splitlines()
