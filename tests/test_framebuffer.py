"""The framebuffer driver, against a regular file standing in for /dev/fbN and a sysfs
folder giving its geometry."""

from pathlib import Path

import pytest
from PIL import Image

from hal.framebuffer import Framebuffer, FramebufferError


def fake_fb(
    tmp_path: Path, bpp: int, width: int = 4, height: int = 2, stride: int | None = None
) -> Framebuffer:
    sysfs = tmp_path / "sys"
    (sysfs / "fb1").mkdir(parents=True)
    (sysfs / "fb1" / "virtual_size").write_text(f"{width},{height}\n")
    (sysfs / "fb1" / "bits_per_pixel").write_text(f"{bpp}\n")
    if stride is not None:
        (sysfs / "fb1" / "stride").write_text(f"{stride}\n")
    device = tmp_path / "fb1"
    device.write_bytes(b"")
    return Framebuffer(device, sysfs)


def picture() -> Image.Image:
    image = Image.new("RGB", (4, 2), (255, 255, 255))
    image.putpixel((0, 0), (255, 0, 0))
    image.putpixel((1, 0), (0, 255, 0))
    image.putpixel((2, 0), (0, 0, 255))
    return image


def test_16_bpp_is_rgb565_little_endian(tmp_path: Path) -> None:
    fb = fake_fb(tmp_path, 16)
    fb.show(picture())
    data = fb.device.read_bytes()
    assert data[:8] == bytes.fromhex("00f8e0071f00ffff")
    assert len(data) == 4 * 2 * 2


def test_32_bpp_is_bgrx(tmp_path: Path) -> None:
    fb = fake_fb(tmp_path, 32)
    fb.show(picture())
    data = fb.device.read_bytes()
    assert data[:12] == bytes.fromhex("0000ff0000ff0000ff000000")
    assert len(data) == 4 * 2 * 4


def test_rows_are_padded_to_the_stride(tmp_path: Path) -> None:
    fb = fake_fb(tmp_path, 16, stride=12)
    fb.show(picture())
    data = fb.device.read_bytes()
    assert len(data) == 12 * 2 and data[8:12] == b"\0\0\0\0"


def test_geometry_comes_from_sysfs(tmp_path: Path) -> None:
    assert fake_fb(tmp_path, 32, width=800, height=480).size == (800, 480)


def test_a_missing_sysfs_entry_or_odd_depth_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FramebufferError, match="cannot read its geometry"):
        Framebuffer(tmp_path / "fb7", tmp_path)
    with pytest.raises(FramebufferError, match="24 bits per pixel is not supported"):
        fake_fb(tmp_path, 24)


def test_a_frame_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    fb = fake_fb(tmp_path, 32)
    with pytest.raises(FramebufferError, match="frame is"):
        fb.show(Image.new("RGB", (5, 5)))
