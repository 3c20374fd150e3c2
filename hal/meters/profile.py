"""A meter model as data: where each quantity lives, how it is encoded, how to poll it.

A profile is a TOML file in this folder (see sdm630.toml for the annotated format). This module
loads and checks profiles, plans the fewest register reads a poll needs, and decodes (and, for
test meters, encodes) register images. Adding a model is a new file and a golden test.
"""

from __future__ import annotations

import math
import struct
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# Register count and struct format (big-endian bytes within a 16-bit register) of each type.
TYPES: dict[str, tuple[int, str]] = {
    "int16": (1, ">h"),
    "uint16": (1, ">H"),
    "int32": (2, ">i"),
    "uint32": (2, ">I"),
    "float32": (2, ">f"),
    "int64": (4, ">q"),
    "uint64": (4, ">Q"),
}
QUANTITIES = ("energy_import_wh", "power_w", "voltage_v", "current_a")


class ProfileError(Exception):
    pass


@dataclass(frozen=True)
class Field:
    """One value: `registers` at `address` read with `function`, decoded as `type`."""

    address: int
    type: str
    scale: float
    word_order: str  # "big": high word first; "little": low word first
    not_available: tuple[int, ...]

    @property
    def registers(self) -> int:
        return TYPES[self.type][0]

    def decode(self, words: list[int]) -> float | None:
        """The scaled value, or None for NaN, infinity or a documented "not available"."""
        if self.word_order == "little":
            words = list(reversed(words))
        raw = b"".join(w.to_bytes(2, "big") for w in words)
        value = struct.unpack(TYPES[self.type][1], raw)[0]
        unsigned = int.from_bytes(raw, "big")
        if unsigned in self.not_available or not math.isfinite(value):
            return None
        return float(value) * self.scale

    def encode(self, value: float) -> list[int]:
        raw_value: float | int = value / self.scale
        if self.type != "float32":
            raw_value = round(raw_value)
        raw = struct.pack(TYPES[self.type][1], raw_value)
        words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
        return list(reversed(words)) if self.word_order == "little" else words


@dataclass(frozen=True)
class Serial:
    """Where the meter keeps its serial number, read once per connection for the receipts.
    `type` "uint32": a number (two registers); "char16": one ASCII character in the low byte
    of each of `registers` registers (Carlo Gavazzi)."""

    function: int
    address: int
    type: str
    registers: int

    @property
    def block(self) -> Block:
        return Block(self.function, self.address, self.registers)

    def decode(self, words: list[int]) -> str | None:
        """The serial as text, or None where the meter has none to give (zero, all ones)."""
        if self.type == "uint32":
            number = words[0] << 16 | words[1]
            return None if number in (0, 0xFFFFFFFF) else str(number)
        text = "".join(chr(w & 0xFF) for w in words).strip("\0 ")
        return text if text.isprintable() and text else None

    def encode(self, serial: str) -> list[int]:
        if self.type == "uint32":
            return [int(serial) >> 16, int(serial) & 0xFFFF]
        return [ord(c) for c in serial.ljust(self.registers, "\0")]


@dataclass(frozen=True)
class Block:
    """One read request: `count` registers from `address` with `function`."""

    function: int
    address: int
    count: int


@dataclass(frozen=True)
class Profile:
    model: str
    vendor: str
    document: str
    function: int
    max_registers: int
    energy_import_wh: Field
    power_w: Field
    voltage_v: tuple[Field, ...]
    current_a: tuple[Field, ...]
    connect_hint: str = ""
    serial: Serial | None = None  # none where the vendor's map has no serial number

    def fields(self) -> list[Field]:
        return [self.energy_import_wh, self.power_w, *self.voltage_v, *self.current_a]

    def plan(self) -> list[Block]:
        """The fewest requests covering every field, none longer than `max_registers`."""
        spans = sorted((f.address, f.address + f.registers) for f in self.fields())
        blocks: list[list[int]] = []
        for start, end in spans:
            if blocks and end - blocks[-1][0] <= self.max_registers:
                blocks[-1][1] = max(blocks[-1][1], end)
            else:
                blocks.append([start, end])
        return [Block(self.function, start, end - start) for start, end in blocks]

    def decode(self, image: dict[int, int]) -> dict[str, float | None | list[float | None]]:
        """Values from a register image {address: word} that covers the plan."""

        def value(f: Field) -> float | None:
            return f.decode([image[a] for a in range(f.address, f.address + f.registers)])

        return {
            "energy_import_wh": value(self.energy_import_wh),
            "power_w": value(self.power_w),
            "voltage_v": [value(f) for f in self.voltage_v],
            "current_a": [value(f) for f in self.current_a],
        }

    def encode(
        self,
        energy_import_wh: float,
        power_w: float,
        voltage_v: list[float],
        current_a: list[float],
    ) -> dict[int, int]:
        """A register image holding these values (for test meters)."""
        image: dict[int, int] = {}
        pairs = [
            (self.energy_import_wh, energy_import_wh),
            (self.power_w, power_w),
            *zip(self.voltage_v, voltage_v, strict=True),
            *zip(self.current_a, current_a, strict=True),
        ]
        for f, v in pairs:
            for i, word in enumerate(f.encode(v)):
                image[f.address + i] = word
        return image


def parse(model: str, data: dict[str, Any]) -> Profile:
    """A profile from its parsed TOML; ProfileError naming the model for anything malformed."""
    try:
        function = int(data["function"])
        order = str(data.get("word_order", "big"))
        if function not in (3, 4) or order not in ("big", "little"):
            raise ValueError("function must be 3 or 4, word_order big or little")
        quantities: dict[str, Any] = data["quantities"]

        def field(spec: dict[str, Any], address: int) -> Field:
            if spec["type"] not in TYPES:
                raise ValueError(f"unknown type {spec['type']!r}")
            return Field(
                int(address),
                spec["type"],
                float(spec.get("scale", 1.0)),
                spec.get("word_order", order),
                tuple(int(s) for s in spec.get("not_available", [])),
            )

        def per_phase(name: str) -> tuple[Field, ...]:
            spec = quantities.get(name)
            return tuple(field(spec, a) for a in spec["addresses"]) if spec else ()

        energy, power = quantities["energy_import_wh"], quantities["power_w"]
        serial = None
        if "serial" in data:
            spec = data["serial"]
            kind = spec["type"]
            if kind not in ("uint32", "char16"):
                raise ValueError(f"serial type must be uint32 or char16, not {kind!r}")
            serial = Serial(
                int(spec.get("function", function)),
                int(spec["address"]),
                kind,
                2 if kind == "uint32" else int(spec["registers"]),
            )
        return Profile(
            model=model,
            vendor=str(data["vendor"]),
            document=str(data["document"]),
            function=function,
            max_registers=int(data["max_registers"]),
            energy_import_wh=field(energy, energy["address"]),
            power_w=field(power, power["address"]),
            voltage_v=per_phase("voltage_v"),
            current_a=per_phase("current_a"),
            connect_hint=str(data.get("connect_hint", "")),
            serial=serial,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileError(f"{model}: malformed profile: {exc}") from None


@cache
def load(model: str) -> Profile:
    """The profile of `model` (the file hal/meters/MODEL.toml); ProfileError if none."""
    path = resources.files(__package__).joinpath(f"{model}.toml")
    if not path.is_file():
        raise ProfileError(f"unknown meter model {model!r}")
    return parse(model, tomllib.loads(path.read_text("utf-8")))
