"""The Raspberry Pi's pilot front end, on a temporary folder for /sys/class/pwm and a fake
spidev: the kernel PWM channel written as the contract says, and the ADC's samples classified
into A..F with hysteresis and the diode check."""

from pathlib import Path

import pytest

from hal.pilot import CpState, duty_for
from hal.rpi.adc import BURST, PilotSampler, Scale, read_count, state_of
from hal.rpi.pwm import PwmError, SysfsPwm

SCALE = Scale(volts_per_count=0.0293, offset_v=-15.0)  # the reference divider


class FakeSpi:
    """An MCP3008 whose input follows a 1 kHz pilot: `high_v` for `duty` of the samples."""

    def __init__(self, high_v: float, low_v: float, duty: float = 1.0):
        self.high, self.low, self.duty = count(high_v), count(low_v), duty
        self.n = 0
        self.sent: list[list[int]] = []

    def xfer2(self, data: list[int]) -> list[int]:
        self.sent.append(data)
        value = self.high if (self.n % 20) < self.duty * 20 else self.low
        self.n += 1
        return [0, (value >> 8) & 0x03, value & 0xFF]


def count(volts: float) -> int:
    return max(0, min(1023, round((volts - SCALE.offset_v) / SCALE.volts_per_count)))


def test_a_conversion_asks_for_the_channel_single_ended_and_reads_10_bits() -> None:
    spi = FakeSpi(12.0, 12.0)
    assert read_count(spi, 3) == count(12.0)
    assert spi.sent == [[0x01, 0xB0, 0x00]]


@pytest.mark.parametrize(
    ("high_v", "state"),
    [
        (12.0, CpState.A),
        (9.0, CpState.B),
        (6.0, CpState.C),
        (3.0, CpState.D),
        (0.0, CpState.E),
        (-12.0, CpState.F),
    ],
)
def test_the_high_level_gives_the_state(high_v: float, state: CpState) -> None:
    assert state_of(high_v) is state


def test_a_level_on_a_threshold_does_not_flap() -> None:
    assert state_of(7.6) is CpState.B
    assert state_of(7.3, before=CpState.B) is CpState.B  # within the hysteresis
    assert state_of(7.0, before=CpState.B) is CpState.C  # past it
    assert state_of(7.7, before=CpState.C) is CpState.C
    assert state_of(8.0, before=CpState.C) is CpState.B


def test_a_burst_sees_both_levels_of_the_pwm_and_the_diode() -> None:
    sampler = PilotSampler(FakeSpi(6.0, -12.0, duty=duty_for(16) / 100), 0, SCALE)
    found = sampler.sample()
    assert found.high_v == pytest.approx(6.0, abs=0.05)
    assert found.low_v == pytest.approx(-12.0, abs=0.05)
    assert sampler.classify(found, pwm_on=True) == (CpState.C, True)
    assert len(sampler.spi.sent) == BURST >= 50  # type: ignore[attr-defined]


def test_a_low_level_above_minus_12_volts_is_a_missing_diode() -> None:
    sampler = PilotSampler(FakeSpi(6.0, 0.0, duty=0.5), 0, SCALE)
    assert sampler.classify(sampler.sample(), pwm_on=True) == (CpState.C, False)


def test_without_pwm_there_is_no_low_level_to_check() -> None:
    sampler = PilotSampler(FakeSpi(9.0, 9.0), 0, SCALE)
    assert sampler.classify(sampler.sample(), pwm_on=False) == (CpState.B, True)


def sysfs(tmp_path: Path, exported: bool = True) -> Path:
    chip = tmp_path / "pwmchip0"
    chip.mkdir()
    (chip / "export").write_text("")
    if exported:
        channel = chip / "pwm0"
        channel.mkdir()
        for name in ("period", "duty_cycle", "enable"):
            (channel / name).write_text("0\n")
    return chip / "pwm0"


def test_the_channel_runs_at_1_khz_enabled_at_plus_12_volts(tmp_path: Path) -> None:
    channel = sysfs(tmp_path)
    pwm = SysfsPwm(tmp_path, 0, 0)
    pwm.open()
    assert (channel / "period").read_text() == "1000000\n"
    assert (channel / "duty_cycle").read_text() == "1000000\n"  # +12 V: no offer
    assert (channel / "enable").read_text() == "1\n"


def test_an_offer_is_its_duty_cycle_in_nanoseconds_and_f_is_zero(tmp_path: Path) -> None:
    channel = sysfs(tmp_path)
    pwm = SysfsPwm(tmp_path, 0, 0)
    pwm.open()
    pwm.offer(duty_for(16))
    assert (channel / "duty_cycle").read_text() == "266666\n"
    pwm.constant_low()
    assert (channel / "duty_cycle").read_text() == "0\n"


def test_a_missing_chip_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(PwmError, match=r"pwmchip3: no such PWM chip"):
        SysfsPwm(tmp_path, 3, 0).open()


def test_a_channel_that_never_appears_after_export_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sysfs(tmp_path, exported=False)
    monkeypatch.setattr(SysfsPwm, "EXPORT_WAIT_S", 0.0)
    with pytest.raises(PwmError, match=r"pwm0: not there after export"):
        SysfsPwm(tmp_path, 0, 0).open()
    assert (tmp_path / "pwmchip0" / "export").read_text() == "0\n"
