"""Reading QR codes off the pile's screens with a real decoder (zbar's zbarimg)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
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


def shows(png: Path, payload: str | None, timeout: float = 10.0) -> None:
    """Waits until the screen file shows a QR code reading exactly `payload` (None: no code)."""
    deadline = time.monotonic() + timeout
    wanted = [payload] if payload is not None else []
    seen: list[str] = []
    while time.monotonic() < deadline:
        if png.exists():
            seen = decode_qr(png)
            if seen == wanted:
                return
        time.sleep(0.1)
    raise AssertionError(f"{png.name} shows {seen}, not {wanted}")
