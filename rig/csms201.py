"""A 2.0.1 central system we did not write: the mobilityhouse `ocpp` library's v201 ChargePoint
(it validates every message the pile sends against the official 2.0.1 schemas), on the same
recording server as `rig/csms.py`'s 1.6 one. It answers as a plain CSMS would; a test sets what
it says of costs and idTokens."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action

from rig.csms import Csms, now_iso


class Station201(ChargePoint):
    csms: Csms201

    @on(Action.boot_notification)
    def boot(self, **_: Any) -> Any:
        return call_result.BootNotification(now_iso(), self.csms.heartbeat_s, self.csms.boot_status)

    @on(Action.heartbeat)
    def heartbeat(self) -> Any:
        return call_result.Heartbeat(now_iso())

    @on(Action.status_notification)
    def status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on(Action.transaction_event)
    def transaction_event(self, event_type: str, **_: Any) -> Any:
        answer: dict[str, Any] = {}
        if event_type == "Started" and self.csms.id_token_status != "Accepted":
            answer["id_token_info"] = {"status": self.csms.id_token_status}
        cost = self.csms.total_cost.get(event_type)
        if cost is not None:
            answer["total_cost"] = cost
        return call_result.TransactionEvent(**answer)

    @on(Action.authorize)
    def authorize(self, **_: Any) -> Any:
        return call_result.Authorize({"status": self.csms.authorize_status})

    @on(Action.meter_values)
    def meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()

    @on(Action.notify_report)
    def notify_report(self, **_: Any) -> Any:
        return call_result.NotifyReport()

    @on(Action.report_charging_profiles)
    def report_charging_profiles(self, **_: Any) -> Any:
        return call_result.ReportChargingProfiles()

    @on(Action.notify_event)
    def notify_event(self, **_: Any) -> Any:
        return call_result.NotifyEvent()

    @on(Action.notify_display_messages)
    def notify_display_messages(self, **_: Any) -> Any:
        return call_result.NotifyDisplayMessages()

    @on(Action.reservation_status_update)
    def reservation_status_update(self, **_: Any) -> Any:
        return call_result.ReservationStatusUpdate()

    @on(Action.firmware_status_notification)
    def firmware_status(self, **_: Any) -> Any:
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def log_status(self, **_: Any) -> Any:
        return call_result.LogStatusNotification()


class Csms201(Csms):
    subprotocol = "ocpp2.0.1"
    station_class = Station201

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.id_token_status = "Accepted"  # the Started's answer
        self.authorize_status = "Accepted"
        self.total_cost: dict[str, float] = {}  # eventType -> the totalCost its answer gives
