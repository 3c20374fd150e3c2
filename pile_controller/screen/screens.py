"""What the driver sees at the pile: connector state -> screen content, in Chinese and English.

This module decides what each state says and which QR code it shows; `render.py` draws it and
`display.py` puts it on a panel. Wording is for drivers, not technicians: a fault says what
happened and what to do, never a code alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pile_controller.core.connector import Connector
from pile_controller.core.faults import FaultCode
from pile_controller.core.tariff import round_money
from pile_controller.core.transaction import Cap


@dataclass(frozen=True)
class Text:
    """One line, in both languages."""

    zh: str
    en: str


@dataclass(frozen=True)
class Screen:
    title: Text
    lines: tuple[Text, ...] = ()
    qr: str | None = None
    tone: str = "normal"  # "normal", "attention" or "fault": the title band's colour


# The code entry field: the same whatever the code, so the screen never tells its length;
# each digit typed shows as a dot, never as itself.
CODE_FIELD = "_ _ _ _ _ _"


def code_field(typed: int) -> str:
    return " ".join(["●"] * typed + ["_"] * max(0, 6 - typed))


# What each fault means to a driver, and what to do about it.
FAULT_TEXT = {
    FaultCode.EMERGENCY_STOP: Text(
        "急停按钮已按下，充电已停止", "Emergency stop pressed: charging stopped"
    ),
    FaultCode.RELAY_WELDED: Text(
        "设备故障，电缆暂时锁定", "Equipment fault: the cable stays locked for safety"
    ),
    FaultCode.RELAY_FAILURE: Text(
        "设备故障，无法供电", "Equipment fault: the pile cannot supply power"
    ),
    FaultCode.CABLE_LOCK_FAILURE: Text("充电枪锁故障", "The cable lock is not working"),
    FaultCode.RCD_TRIP: Text("漏电保护已动作，充电已停止", "Residual current protection tripped"),
    FaultCode.PILOT_FAULT: Text(
        "车辆通信故障，请重新插枪", "The vehicle does not answer: please plug in again"
    ),
    FaultCode.METER_FAILURE: Text(
        "电表故障，暂停充电", "The energy meter is not answering: charging paused"
    ),
}


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


# While the backend is out of reach an app cannot start a session or confirm a payment: the
# pile says so instead of showing a start code that would lead nowhere.
OFFLINE = Text("充电桩离线，暂不能扫码充电", "The pile is offline: app start unavailable")
PAID_OFFLINE = Text("离线：付款到达后解锁", "Offline: unlocks when the payment arrives")


def screen_for(
    c: Connector, now: datetime, start_url: str, support: str, online: bool = True
) -> Screen:
    """The screen connector `c` shows at `now` (`online`: the backend can be reached)."""
    tx = c.transaction
    tariff = c.ctx.tariff
    price = tariff.price_per_kwh(now.astimezone(c.ctx.zone).time())
    match c.state:
        case "idle" if not online:
            return Screen(
                Text("暂停扫码充电", "Scan to charge: unavailable"),
                (Text(f"{c.id} 号充电枪", f"Connector {c.id}"), OFFLINE),
                tone="attention",
            )
        case "idle":
            return Screen(
                Text("扫码充电", "Scan to charge"),
                (
                    Text(f"{c.id} 号充电枪", f"Connector {c.id}"),
                    Text(
                        f"电价 {price:.2f} {tariff.currency}/kWh",
                        f"Price {price:.2f} {tariff.currency}/kWh",
                    ),
                ),
                qr=start_url,
            )
        case "reserved" if c.reservation is not None:
            left = clock((c.reservation.expires_at - now).total_seconds())
            return Screen(
                Text("已预约", "Reserved"),
                (
                    Text(
                        f"预约号 {c.reservation.reservation_id}",
                        f"Booking {c.reservation.reservation_id}",
                    ),
                    Text(f"剩余 {left}", f"Held for {left}"),
                    Text("请插枪后输入预约码", "Plug in, then enter your code"),
                ),
                tone="attention",
            )
        case "authenticating":
            return authenticating(c, now, start_url if online else None)
        case "charging" if tx is not None:
            # The same rounding as the bill, and the price of the tariff this session began with.
            currency = tx.tariff.currency
            running = tx.shown_cost if tx.shown_cost is not None else round_money(tx.cost, currency)
            tx_price = tx.tariff.price_per_kwh(now.astimezone(c.ctx.zone).time())
            kwh, kw = f"{tx.energy_wh / 1000:.2f} kWh", f"{tx.power_w / 1000:.1f} kW"
            elapsed = clock((now - tx.started_at).total_seconds())
            title = {
                "EV": Text("车辆暂停充电", "Paused by the vehicle"),
                "EVSE": Text("等待供电", "Waiting for power"),
            }.get(c.suspended() or "", Text("充电中", "Charging"))
            return Screen(
                title,
                (
                    Text(f"已充 {kwh}  功率 {kw}", f"{kwh} at {kw}"),
                    Text(f"时长 {elapsed}", f"Time {elapsed}"),
                    Text(tx.price_text, tx.price_text)
                    if tx.price_text
                    else Text(
                        f"费用 {running} {currency}（{tx_price:.2f}/kWh）",
                        f"Cost {running} {currency} at {tx_price:.2f}/kWh",
                    ),
                    stop_line(tx.cap, currency),
                ),
            )
        case "awaiting_payment" if tx is not None:
            return Screen(
                Text("请扫码支付", "Scan to pay"),
                (
                    Text(
                        f"金额 {tx.amount} {tx.tariff.currency}",
                        f"Amount {tx.amount} {tx.tariff.currency}",
                    ),
                    Text(
                        f"电量 {tx.energy_wh / 1000:.2f} kWh",
                        f"Energy {tx.energy_wh / 1000:.2f} kWh",
                    ),
                    Text("支付后充电枪自动解锁", "The cable unlocks once paid")
                    if online
                    else PAID_OFFLINE,
                ),
                qr=tx.qr_payload,
                tone="attention",
            )
        case "unlocked":
            return Screen(
                Text("谢谢使用", "Thank you"), (Text("请拔下充电枪", "Please remove the cable"),)
            )
        case "unavailable":
            return Screen(
                Text("暂停服务", "Out of service"),
                (Text("请使用其他充电桩", "Please use another pile"),),
                tone="attention",
            )
    fault = next(iter(c.faults), None)
    said = FAULT_TEXT.get(fault, Text("设备故障", "Equipment fault")) if fault else Text("", "")
    hint = (Text(f"客服电话 {support}", f"Support {support}"),) if support else ()
    return Screen(Text("故障", "Out of order"), (said, *hint), tone="fault")


def authenticating(c: Connector, now: datetime, start_url: str | None) -> Screen:
    """Code entry, a remote start on its way, or (no reservation) the start QR code; without a
    start URL (offline) only what works at the pile alone: the booking code."""
    locked_until = c.gate.locked_until
    if locked_until is not None and now < locked_until:
        left = clock((locked_until - now).total_seconds())
        return Screen(
            Text("预约码错误次数过多", "Too many wrong codes"),
            (Text(f"请 {left} 后重试", f"Try again in {left}"),),
            tone="fault",
        )
    if c.authorization is not None:
        return Screen(Text("正在锁枪…", "Locking the cable…"))
    if c.reservation is None and start_url is None:
        return Screen(
            Text("暂停扫码充电", "Scan to start: unavailable"),
            (OFFLINE, Text("请拔枪，稍后再试", "Please unplug and try again later")),
            tone="attention",
        )
    if c.reservation is None:
        return Screen(
            Text("扫码开始充电", "Scan to start"),
            (Text("用手机扫描二维码", "Scan the code with your phone"),),
            qr=start_url,
        )
    code_lines = (
        Text(f"预约码 {code_field(c.typed)}", f"Code {code_field(c.typed)}"),
        Text(
            f"还可尝试 {c.gate.attempts_left(now)} 次",
            f"{c.gate.attempts_left(now)} attempts left",
        ),
    )
    if start_url is None:  # the code is checked at the pile: it works offline
        return Screen(Text("请输入预约码", "Enter your booking code"), code_lines)
    return Screen(
        Text("请输入预约码", "Enter your booking code"),
        (*code_lines, Text("或扫码开始充电", "or scan to start")),
        qr=start_url,
    )


def stop_line(cap: Cap | None, currency: str) -> Text:
    """How the session ends: the STOP key, and the driver's cap if they set one (they see
    that it protects them)."""
    if cap is None:
        return Text("按停止键结束充电", "Press STOP to finish")
    limits = []
    if cap.max_cost is not None:
        limits.append(f"{cap.max_cost} {currency}")
    if cap.max_energy_wh is not None:
        limits.append(f"{cap.max_energy_wh / 1000:.1f} kWh")
    limit = " / ".join(limits)
    return Text(f"上限 {limit}，按停止键结束", f"Stops at {limit} or STOP")
