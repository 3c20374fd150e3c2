"""A Linux framebuffer (/dev/fbN) as the pile's panel.

Geometry and pixel format come from sysfs (/sys/class/graphics/fbN/virtual_size,
bits_per_pixel, stride), never from assumptions: 16 bpp is RGB565, 32 bpp is BGRX (the
little-endian XRGB8888 most panels use).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Pillow comes with the first picture, after the boot
    from PIL import Image

SYSFS = Path("/sys/class/graphics")


class FramebufferError(Exception):
    pass


class Framebuffer:
    def __init__(self, device: Path, sysfs: Path = SYSFS):
        self.device = device
        info = sysfs / device.name
        try:
            width, height = (int(v) for v in (info / "virtual_size").read_text().split(","))
            self.bpp = int((info / "bits_per_pixel").read_text())
            stride_file = info / "stride"
            self.stride = int(stride_file.read_text()) if stride_file.exists() else 0
        except (OSError, ValueError) as exc:
            raise FramebufferError(
                f"{device}: cannot read its geometry from {info}: {exc}"
            ) from None
        if self.bpp not in (16, 32):
            raise FramebufferError(f"{device}: {self.bpp} bits per pixel is not supported (16, 32)")
        self.size = (width, height)
        self.stride = self.stride or width * self.bpp // 8

    def frame(self, image: Image.Image) -> bytes:
        """The bytes of `image` in this framebuffer's format, row by row with its stride."""
        from PIL import Image, ImageChops

        width, height = self.size
        rgb = image.convert("RGB")
        if rgb.size != self.size:
            raise FramebufferError(f"{self.device}: frame is {rgb.size}, the panel {self.size}")
        if self.bpp == 32:
            row_bytes = rgb.tobytes("raw", "BGRX")
        else:  # RGB565, little-endian: lookup tables per band, no per-pixel Python
            r, g, b = rgb.split()
            high = ImageChops.add(r.point(lambda v: v & 0xF8), g.point(lambda v: v >> 5))
            low = ImageChops.add(g.point(lambda v: (v << 3) & 0xE0), b.point(lambda v: v >> 3))
            row_bytes = Image.merge("LA", (low, high)).tobytes()
        line = width * self.bpp // 8
        if self.stride == line:
            return row_bytes
        pad = b"\0" * (self.stride - line)
        return b"".join(row_bytes[y * line : (y + 1) * line] + pad for y in range(height))

    def show(self, image: Image.Image) -> None:
        with open(self.device, "r+b" if self.device.exists() else "wb") as fb:
            fb.write(self.frame(image))
