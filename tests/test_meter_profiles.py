"""Golden tests: each meter profile decodes a raw register image as its vendor documents it.

The register words are written out by hand (IEEE 754 floats and scaled integers in the
vendor's word order), not produced by the profile's own encoder.
"""

import pytest

from hal.meters import known_models
from hal.meters.profile import Block, ProfileError, load


def image(words: dict[int, list[int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for address, run in words.items():
        for i, word in enumerate(run):
            out[address + i] = word
    return out


V230_2, V231, V229_5 = [0x4366, 0x3333], [0x4367, 0x0000], [0x4365, 0x8000]
A10_2, A9_8, A10 = [0x4123, 0x3333], [0x411C, 0xCCCD], [0x4120, 0x0000]
W7012_5, KWH1234_5 = [0x45DB, 0x2400], [0x449A, 0x5000]
EASTRON_3P = {
    0x0000: V230_2 + V231 + V229_5,
    0x0006: A10_2 + A9_8 + A10,
    0x0034: W7012_5,
    0x0048: KWH1234_5,
}
EXPECTED_3P = {
    "energy_import_wh": 1234500.0,
    "power_w": 7012.5,
    "voltage_v": [230.2, 231.0, 229.5],
    "current_a": [10.2, 9.8, 10.0],
}


def approx(values: dict[str, object]) -> dict[str, object]:
    return {k: pytest.approx(v, rel=1e-6) for k, v in values.items()}


def test_sdm630() -> None:
    assert load("sdm630").decode(image(EASTRON_3P)) == approx(EXPECTED_3P)


@pytest.mark.parametrize("model", ["sdm120", "sdm230"])
def test_eastron_single_phase(model: str) -> None:
    raw = image({0x0000: V230_2, 0x0006: A10_2, 0x000C: W7012_5, 0x0048: KWH1234_5})
    assert load(model).decode(raw) == approx(
        {
            "energy_import_wh": 1234500.0,
            "power_w": 7012.5,
            "voltage_v": [230.2],
            "current_a": [10.2],
        }
    )


def test_sdm72d_has_totals_only() -> None:
    raw = image({0x0034: W7012_5, 0x0048: KWH1234_5})
    assert load("sdm72d").decode(raw) == approx(
        {"energy_import_wh": 1234500.0, "power_w": 7012.5, "voltage_v": [], "current_a": []}
    )


def test_abb_b23_scaled_integers() -> None:
    raw = image(
        {
            0x5000: [0x0000, 0x0000, 0x0001, 0xE23A],  # 123450 x 0.01 kWh
            0x5B00: [0x0000, 0x08FE, 0x0000, 0x0906, 0x0000, 0x08F7],  # 2302, 2310, 2295 x 0.1 V
            0x5B0C: [0x0000, 0x03FC, 0x0000, 0x03D4, 0x0000, 0x03E8],  # 1020, 980, 1000 x 0.01 A
            0x5B14: [0x000A, 0xB342],  # 701250 x 0.01 W
        }
    )
    assert load("abb_b23").decode(raw) == approx(EXPECTED_3P)


def test_abb_b23_not_available_is_no_value() -> None:
    raw = image(
        {0x5000: [0xFFFF] * 4, 0x5B00: [0xFFFF] * 6, 0x5B0C: [0xFFFF] * 6, 0x5B14: [0x7FFF, 0xFFFF]}
    )
    assert load("abb_b23").decode(raw) == {
        "energy_import_wh": None,
        "power_w": None,
        "voltage_v": [None] * 3,
        "current_a": [None] * 3,
    }


def test_em340_low_word_first() -> None:
    raw = image(
        {
            0x0000: [0x08FE, 0x0000, 0x0906, 0x0000, 0x08F7, 0x0000],  # 0.1 V
            0x000C: [0x27D8, 0x0000, 0x2648, 0x0000, 0x2710, 0x0000],  # 10200, 9800, 10000 mA
            0x0028: [0x11ED, 0x0001],  # 70125 x 0.1 W
            0x0034: [0x3039, 0x0000],  # 12345 x 0.1 kWh
        }
    )
    assert load("em340").decode(raw) == approx(EXPECTED_3P)


def test_dtsu666_scaled_floats() -> None:
    raw = image(
        {
            0x2006: [0x450F, 0xE000, 0x4510, 0x6000, 0x450F, 0x7000],  # 2302, 2310, 2295 x 0.1 V
            0x200C: [0x461F, 0x6000, 0x4619, 0x2000, 0x461C, 0x4000],  # 10200, 9800, 10000 mA
            0x2012: [0x4788, 0xF680],  # 70125 x 0.1 W
            0x401E: KWH1234_5,
        }
    )
    assert load("dtsu666").decode(raw) == approx(EXPECTED_3P)


def test_ddsu666_power_in_kilowatts() -> None:
    raw = image({0x2000: V230_2, 0x2002: A10_2, 0x2004: [0x40E0, 0x6666], 0x4000: KWH1234_5})
    assert load("ddsu666").decode(raw) == approx(
        {
            "energy_import_wh": 1234500.0,
            "power_w": 7012.5,
            "voltage_v": [230.2],
            "current_a": [10.2],
        }
    )


def test_nan_is_no_value() -> None:
    raw = image({**EASTRON_3P, 0x0048: [0x7FC0, 0x0000]})
    assert load("sdm630").decode(raw)["energy_import_wh"] is None


@pytest.mark.parametrize(
    ("model", "words", "serial"),
    [
        ("sdm630", [0x00BC, 0x614E], "12345678"),  # 0xFC00, an unsigned 32-bit number
        ("sdm120", [0x0000, 0x0000], None),  # zero: not a serial number
        ("abb_b23", [0x0BEB, 0xC200], "200000000"),
        ("abb_b23", [0xFFFF, 0xFFFF], None),  # all ones: not available
        # 5000h..5006h, one letter in each word's low byte: "235411W" off a label
        ("em340", [0x0032, 0x0033, 0x0035, 0x0034, 0x0031, 0x0031, 0x0057], "235411W"),
    ],
)
def test_the_serial_number_where_the_vendors_map_has_one(
    model: str, words: list[int], serial: str | None
) -> None:
    where = load(model).serial
    assert where is not None and where.block.count == len(words)
    assert where.decode(words) == serial


def test_chint_meters_have_no_serial_number_in_their_map() -> None:
    assert load("dtsu666").serial is None and load("ddsu666").serial is None


@pytest.mark.parametrize("model", sorted(known_models() - {"sim"}))
def test_every_profile_names_its_document_and_round_trips(model: str) -> None:
    profile = load(model)
    assert profile.document and profile.vendor
    phases = len(profile.voltage_v)
    raw = profile.encode(1234500.0, 7012.5, [230.2] * phases, [10.2] * phases)
    assert profile.decode(raw) == approx(
        {
            "energy_import_wh": 1234500.0,
            "power_w": 7012.5,
            "voltage_v": [230.2] * phases,
            "current_a": [10.2] * phases,
        }
    )


@pytest.mark.parametrize(
    ("model", "blocks"),
    [
        ("sdm630", [Block(4, 0x0000, 74)]),
        ("sdm72d", [Block(4, 0x0034, 22)]),
        ("abb_b23", [Block(3, 0x5000, 4), Block(3, 0x5B00, 22)]),
        ("em340", [Block(4, 0x0000, 42), Block(4, 0x0034, 2)]),
        ("dtsu666", [Block(3, 0x2006, 14), Block(3, 0x401E, 2)]),
    ],
)
def test_a_poll_is_planned_as_few_reads_within_the_models_limit(
    model: str, blocks: list[Block]
) -> None:
    plan = load(model).plan()
    assert plan == blocks
    assert all(b.count <= load(model).max_registers for b in plan)


def test_an_unknown_model_is_one_clear_error() -> None:
    with pytest.raises(ProfileError, match="unknown meter model 'sdm999'"):
        load("sdm999")


def test_the_shipped_models_are_the_ones_the_issue_names() -> None:
    assert known_models() == {
        "sim",
        "sdm630",
        "sdm120",
        "sdm230",
        "sdm72d",
        "abb_b23",
        "em340",
        "dtsu666",
        "ddsu666",
    }
