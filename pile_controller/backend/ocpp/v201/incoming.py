"""The CSMS's CALLs to the pile in OCPP 2.0.1 (CONTRACT 11), each already checked against its
schema: those that are backend commands become the same core commands as MQTT's and 1.6's and
are answered after the journal has their effects; the device model, display messages,
profiles and triggers are the link's own."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.calls import (
    ACCEPTED,
    APPOINTMENT_CODE,
    REJECTED,
    Calls,
    accepted,
    availability_status,
    data_of,
    money,
    parse_time,
    reservation_status,
    started_by,
)
from pile_controller.backend.ocpp.session import Deferred
from pile_controller.backend.ocpp.v201 import messages
from pile_controller.backend.ocpp.v201.device_model import JOURNAL_KEY as VARIABLES_KEY
from pile_controller.backend.ocpp.v201.display import JOURNAL_KEY as DISPLAY_KEY
from pile_controller.backend.ocpp.v201.messages import FIRMWARE_KEY, LOG_KEY
from pile_controller.backend.ocpp.websocket import Closed
from pile_controller.core import commands as cmd
from pile_controller.core.times import iso
from pile_controller.core.transaction import Cap

if TYPE_CHECKING:
    from pile_controller.backend.ocpp.v201.link import Ocpp201Link

log = logging.getLogger("pile_controller")
# 2.0.1's profile purposes as the profiles (smart.py, written for 1.6) name them.
PURPOSE = {
    "ChargingStationMaxProfile": "ChargePointMaxProfile",
    "TxDefaultProfile": "TxDefaultProfile",
    "TxProfile": "TxProfile",
}
SCHEDULE_KEYS = ("id", "startSchedule", "duration", "chargingRateUnit", "chargingSchedulePeriod")
REPORT_ITEMS = 32
RENEW_AFTER_S = 1.0  # reportData per NotifyReport (DeviceDataCtrlr.ItemsPerMessage)


def rejected(reason: str) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": {"reasonCode": reason}}


class Incoming(Calls):
    def __init__(self, link: Ocpp201Link):
        super().__init__(link, link.port)
        self.link: Ocpp201Link = link
        self.handlers = {
            "RequestStartTransaction": self.request_start,
            "RequestStopTransaction": self.request_stop,
            "ReserveNow": self.reserve_now,
            "CancelReservation": self.cancel_reservation,
            "ChangeAvailability": self.change_availability,
            "UnlockConnector": self.unlock,
            "DataTransfer": self.data_transfer,
            "CostUpdated": self.cost_updated,
            "SetDisplayMessage": self.set_display_message,
            "GetDisplayMessages": self.get_display_messages,
            "ClearDisplayMessage": self.clear_display_message,
            "TriggerMessage": self.trigger,
            "Reset": self.reset,
            "ClearCache": lambda call: ACCEPTED,  # no cache of idTokens to clear
            "GetVariables": self.get_variables,
            "SetVariables": self.set_variables,
            "GetBaseReport": self.get_base_report,
            "SetChargingProfile": self.set_charging_profile,
            "ClearChargingProfile": self.clear_charging_profile,
            "GetCompositeSchedule": self.composite_schedule,
            "GetChargingProfiles": self.get_charging_profiles,
            "GetLog": self.get_log,
            "UpdateFirmware": self.update_firmware,
        }

    # --- through the core --------------------------------------------------------------------

    def request_start(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        p = call.payload
        cid = p.get("evseId", 0)  # none: the core chooses
        if cid != 0 and cid not in self.port.connectors():
            return rejected("UnknownEvse")
        profile = p.get("chargingProfile")
        if profile is not None and profile["chargingProfilePurpose"] != "TxProfile":
            return rejected("InvalidProfile")
        try:
            cap = self._cap(p.get("customData"))
        except ValueError as exc:
            log.warning("RequestStartTransaction refused: %s", exc)
            return rejected("InvalidValue")
        start = cmd.RemoteStart(cid, p["idToken"]["idToken"], cap=cap)
        if self.link.variables.value("AuthCtrlr", "AuthorizeRemoteStart") == "true":
            self.spawn(self._authorize_then(call, start))
            return Deferred()
        return self._start(call, start)

    def _start(self, call: rpc.Call, start: cmd.RemoteStart) -> Deferred:
        p = call.payload

        def answer(reply: cmd.Reply) -> dict[str, Any]:
            if reply.status is not cmd.ReplyStatus.ACCEPTED:
                return REJECTED
            took = [c for c in self.port.connectors().values() if started_by(c, start.id_token)]
            if took:
                self.link.remote_started(took[0].id, p)
                if "chargingProfile" in p:  # the transaction's profile, on the connector
                    self._install(took[0].id, self._as_profile(p["chargingProfile"]))
            return ACCEPTED

        return self._execute(call, start, accepted, answer)

    async def _authorize_then(self, call: rpc.Call, start: cmd.RemoteStart) -> None:
        """AuthCtrlr.AuthorizeRemoteStart: the idToken is authorized before it starts."""
        try:
            said = await self.link.session.call("Authorize", {"idToken": call.payload["idToken"]})
        except (rpc.RpcError, TimeoutError) as exc:
            log.warning("Authorize before a remote start failed: %s", exc)
            said = {"idTokenInfo": {"status": "Unknown"}}
        except (Closed, OSError):  # the connection ended: the CSMS asks again
            return
        if said["idTokenInfo"]["status"] != "Accepted":
            self.link.session.send_result(call.id, REJECTED)
            return
        self._start(call, start)

    def _cap(self, custom: dict[str, Any] | None) -> Cap | None:
        """The driver's cap: 2.1's `transactionLimit` in `customData` of our vendorId."""
        if not custom or custom.get("vendorId") != self.link.ocpp.vendor_id:
            return None
        limit = custom.get("transactionLimit")
        if limit is None:
            return None
        if not isinstance(limit, dict):
            raise ValueError("transactionLimit is not an object")
        cost, energy = limit.get("maxCost"), limit.get("maxEnergy")
        try:
            max_cost = None if cost is None else Decimal(str(cost))
        except InvalidOperation:
            raise ValueError(f"maxCost {cost!r} is not a number") from None
        if energy is not None and not isinstance(energy, int | float):
            raise ValueError(f"maxEnergy {energy!r} is not a number")
        max_energy = None if energy is None else int(energy)
        if max_cost is None and max_energy is None:
            return None
        if max_cost is not None and not max_cost.is_finite():
            raise ValueError(f"maxCost {cost!r} is not a number")
        return Cap(max_cost, max_energy)  # ValueError for zero or below

    def request_stop(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        c = self.link.holding(call.payload["transactionId"])
        if c is None or c.transaction is None:
            return REJECTED
        return self._execute(call, cmd.RemoteStop(c.transaction.transaction_id), accepted)

    def reserve_now(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        p = call.payload
        token = p["idToken"]
        code = token["idToken"]
        if token["type"] != "KeyCode" or not APPOINTMENT_CODE.fullmatch(code):
            return REJECTED  # the idToken is the appointment code typed at the pile
        expires = parse_time(p["expiryDateTime"])
        reserve = cmd.Reserve(p.get("evseId", 0), str(p["id"]), code, code, expires)
        return self._execute(call, reserve, reservation_status)

    def cancel_reservation(self, call: rpc.Call) -> Deferred:
        command = cmd.CancelReservation(str(call.payload["reservationId"]))
        return self._execute(call, command, accepted)

    def change_availability(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        p = call.payload
        cid = p.get("evse", {}).get("id", 0)
        if cid != 0 and cid not in self.port.connectors():
            return REJECTED
        command = cmd.SetAvailability(cid, p["operationalStatus"] == "Operative")
        return self._execute(call, command, availability_status)

    def unlock(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        p = call.payload
        c = self.port.connectors().get(p["evseId"])
        if c is None or p["connectorId"] != c.id:
            return {"status": "UnknownConnector"}
        if c.transaction is not None and not c.transaction.finished:
            return {"status": "OngoingAuthorizedTransaction"}
        return self._unlock(call, c.id)

    def data_transfer(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        p = call.payload
        if p["vendorId"] != self.link.ocpp.vendor_id:
            return {"status": "UnknownVendorId"}
        if p.get("messageId") != "PaymentSettled":
            return {"status": "UnknownMessageId"}
        data = data_of(p.get("data"))
        c = self.link.holding(str(data.get("transactionId")))
        tx = c.transaction if c else None
        return self._paid(call, tx.transaction_id if tx else None, data.get("amount"))

    def cost_updated(self, call: rpc.Call) -> dict[str, Any]:
        c = self.link.holding(call.payload["transactionId"])
        cost = money(call.payload["totalCost"])
        if c is not None and c.transaction is not None and cost is not None:
            self.cost(c.transaction.transaction_id, cost)
        return {}

    def cost(self, tid: str, total: Decimal) -> None:
        """The CSMS's cost of `tid`: the running cost on the screen, or once it has ended,
        the bill (the driver pays it; the core keeps it within the driver's cap)."""
        c = self.link.holding(messages.wire_id(tid))
        tx = c.transaction if c else None
        if tx is None or total < 0:
            return
        if not tx.finished:
            self.port.execute(self.quiet(cmd.ShowPrice(tid, None, total, None)))
        elif tx.unpaid:
            self.port.execute(self.quiet(cmd.Payment(tid, "final", total)))

    def set_display_message(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        message = call.payload["message"]
        content = message["message"]
        tied = message.get("transactionId")
        c = self.link.holding(tied) if tied is not None else None
        if tied is not None and c is None:
            return {"status": "UnknownTransaction"}
        if not self.link.display.set(message):
            return REJECTED  # as many as DisplayMessageCtrlr.DisplayMessages says
        self.port.remember({DISPLAY_KEY: self.link.display.saved()})
        tx = c.transaction if c else None
        if tx is None:
            return ACCEPTED
        if content["format"] == "URI":
            if tx.unpaid and tx.amount is not None:  # the payment QR code, now
                self.show_payment_uri(tx.transaction_id, content["content"])
        elif not tx.finished:  # a message of the running session: on its charging screen
            text = content["content"][:120]
            self.port.execute(self.quiet(cmd.ShowPrice(tx.transaction_id, None, None, text)))
        return ACCEPTED

    def show_payment_uri(self, tid: str, uri: str) -> None:
        c = self.link.holding(messages.wire_id(tid))
        tx = c.transaction if c else None
        if tx is not None and tx.unpaid and tx.amount is not None:
            self.port.execute(self.quiet(cmd.Payment(tid, "pending", tx.amount, uri[:1024])))

    def get_display_messages(self, call: rpc.Call) -> dict[str, Any]:
        p = call.payload
        found = self.link.display.matching(p.get("id"), p.get("priority"), p.get("state"))
        if not found:
            return {"status": "Unknown"}
        body = {"requestId": p["requestId"], "messageInfo": found}
        self.later("NotifyDisplayMessages", body)
        return ACCEPTED

    def clear_display_message(self, call: rpc.Call) -> dict[str, Any]:
        if not self.link.display.clear(call.payload["id"]):
            return {"status": "Unknown"}
        self.port.remember({DISPLAY_KEY: self.link.display.saved()})
        return ACCEPTED

    def get_log(self, call: rpc.Call) -> Deferred:
        return self._get_log(call, LOG_KEY)  # progress: LogStatusNotification

    def update_firmware(self, call: rpc.Call) -> Deferred:
        return self._signed_update(call, FIRMWARE_KEY)  # progress: FirmwareStatusNotification

    # --- the link's own ----------------------------------------------------------------------

    def trigger(self, call: rpc.Call) -> dict[str, Any]:
        p = call.payload
        what, cid = p["requestedMessage"], p.get("evse", {}).get("id")
        connectors = self.port.connectors()
        if cid is not None and cid not in connectors:
            return REJECTED
        chosen = [cid] if cid else list(connectors)
        if what == "StatusNotification":
            for c in chosen:
                self.link.status(c, again=True)
        elif what == "Heartbeat":
            self.spawn(self.link.quietly(self.link.heartbeat()))
        elif what == "BootNotification":
            self.later("BootNotification", self.link.boot())
        elif what == "MeterValues":
            for c in chosen:
                self._meter_values(c)
        elif what in ("FirmwareStatusNotification", "LogStatusNotification"):
            # What runs now, or Idle.
            said = self.link.under_way.get(what, {"status": "Idle"})
            self.later(what, said)
        elif what == "TransactionEvent":
            running = [c for c in chosen if self.link.running(c) is not None]
            if not running:
                return REJECTED
            for c in running:
                self.link.send_next_sample(c)
            self.port.execute(self.quiet(cmd.Trigger("meter")))
        else:
            return {"status": "NotImplemented"}
        return ACCEPTED

    def _meter_values(self, cid: int) -> None:
        """MeterValues of the connector's meter now, outside any transaction's messages."""
        c = self.port.connectors()[cid]
        r = c.reading
        if r is None or not c.meter_is_fresh(self.port.now()):
            return  # a dead meter's last reading is never sent as if it were new
        data = {
            "energy_register_wh": r.energy_register_wh,
            "power_w": r.power_w,
            "current_a": r.current_a,
            "voltage_v": r.voltage_v,
        }
        measurands = self.link.variables.value("SampledDataCtrlr", "TxUpdatedMeasurands")
        value = {
            "timestamp": iso(self.port.now()),
            "sampledValue": messages.sampled_values(data, "Trigger", measurands),
        }
        self.later("MeterValues", {"evseId": cid, "meterValue": [value]})

    def reset(self, call: rpc.Call) -> dict[str, Any]:
        """Immediate: running sessions stop (ImmediateReset) and the daemon exits for systemd
        to start it again. OnIdle: once no session runs."""
        if call.payload.get("evseId") is not None:
            return rejected("NotSupported")  # an EVSE alone is not reset
        if call.payload["type"] == "Immediate":
            asyncio.get_running_loop().call_soon(self.port.restart, "HardReset")
            return ACCEPTED
        busy = self.port.in_session()
        self.spawn(self._reset_when_idle())
        return {"status": "Scheduled" if busy else "Accepted"}

    async def _reset_when_idle(self) -> None:
        while self.port.in_session():
            await asyncio.sleep(1.0)
        self.port.restart("SoftReset")

    def get_variables(self, call: rpc.Call) -> dict[str, Any]:
        results = [self.link.variables.get(r) for r in call.payload["getVariableData"]]
        return {"getVariableResult": results}

    def set_variables(self, call: rpc.Call) -> dict[str, Any]:
        password = self.link.variables.password()
        results = [self.link.variables.set(r) for r in call.payload["setVariableData"]]
        if any(r["attributeStatus"] == "Accepted" for r in results):
            self.port.remember({VARIABLES_KEY: self.link.variables.saved()})
        if (new := self.link.variables.password()) != password and new is not None:
            # Connect again with it once the CSMS has this answer: a connection closed right
            # behind it can take the answer with it (seen with the `ocpp` library under load).
            asyncio.get_running_loop().call_later(RENEW_AFTER_S, self.link.session.renew, new)
        return {"setVariableResult": results}

    def get_base_report(self, call: rpc.Call) -> dict[str, Any]:
        p = call.payload
        data = list(self.link.variables.report(p["reportBase"]))
        if not data:
            return {"status": "EmptyResultSet"}
        generated = iso(self.port.now())
        chunks = [data[i : i + REPORT_ITEMS] for i in range(0, len(data), REPORT_ITEMS)]
        for n, chunk in enumerate(chunks):
            body = {
                "requestId": p["requestId"],
                "generatedAt": generated,
                "seqNo": n,
                "tbc": n < len(chunks) - 1,
                "reportData": chunk,
            }
            self.later("NotifyReport", body)
        return ACCEPTED

    def set_charging_profile(self, call: rpc.Call) -> dict[str, Any]:
        profile = call.payload["chargingProfile"]
        if profile["chargingProfilePurpose"] not in PURPOSE:
            return REJECTED  # ChargingStationExternalConstraints: the pile has no such source
        return self._set_profile(call.payload["evseId"], self._as_profile(profile))

    def _as_profile(self, profile: dict[str, Any]) -> dict[str, Any]:
        """A 2.0.1 profile as the profiles keep them (1.6's shape): its first schedule, with
        its id (which 1.6's shape does not name) for GetChargingProfiles."""
        schedule = {k: v for k, v in profile["chargingSchedule"][0].items() if k in SCHEDULE_KEYS}
        kept = {
            "chargingProfileId": profile["id"],
            "stackLevel": profile["stackLevel"],
            "chargingProfilePurpose": PURPOSE[profile["chargingProfilePurpose"]],
            "chargingProfileKind": profile["chargingProfileKind"],
            "chargingSchedule": schedule,
        }
        for key in ("recurrencyKind", "validFrom", "validTo", "transactionId"):
            if key in profile:
                kept[key] = profile[key]
        return kept

    def get_charging_profiles(self, call: rpc.Call) -> dict[str, Any]:
        """The installed profiles the criteria name, as ReportChargingProfiles per EVSE (all
        set by the CSMS: source `CSO`)."""
        p = call.payload
        criteria, evse = p["chargingProfile"], p.get("evseId")
        if "CSO" not in criteria.get("chargingLimitSource", ["CSO"]):
            return {"status": "NoProfiles"}
        wanted = {
            "chargingProfilePurpose": criteria.get("chargingProfilePurpose"),
            "stackLevel": criteria.get("stackLevel"),
        }
        found: dict[int, list[dict[str, Any]]] = {}
        for cid, kept in self.link.profiles.installed:
            profile = as_2_0_1(kept)
            if (
                evse in (None, cid)
                and all(v is None or profile[k] == v for k, v in wanted.items())
                and profile["id"] in criteria.get("chargingProfileId", [profile["id"]])
            ):
                found.setdefault(cid, []).append(profile)
        if not found:
            return {"status": "NoProfiles"}
        for n, cid in enumerate(sorted(found)):
            report = {
                "requestId": p["requestId"],
                "chargingLimitSource": "CSO",
                "evseId": cid,
                "chargingProfile": found[cid],
                "tbc": n < len(found) - 1,
            }
            self.later("ReportChargingProfiles", report)
        return ACCEPTED

    def clear_charging_profile(self, call: rpc.Call) -> dict[str, Any]:
        p = call.payload
        criteria = p.get("chargingProfileCriteria", {})
        purpose = criteria.get("chargingProfilePurpose")
        return self._clear_profiles(
            p.get("chargingProfileId"),
            criteria.get("evseId"),
            PURPOSE.get(purpose, purpose) if purpose else None,
            criteria.get("stackLevel"),
        )

    def composite_schedule(self, call: rpc.Call) -> dict[str, Any]:
        cid, duration = call.payload["evseId"], call.payload["duration"]
        schedule = self._composite(cid, duration)
        if schedule is None:
            return REJECTED
        return {
            "status": "Accepted",
            "schedule": {
                "evseId": cid,
                "duration": duration,
                "scheduleStart": schedule["startSchedule"],
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
            },
        }


def as_2_0_1(kept: dict[str, Any]) -> dict[str, Any]:
    """A kept profile (1.6's shape) as 2.0.1 writes it."""
    purpose = {v: k for k, v in PURPOSE.items()}[kept["chargingProfilePurpose"]]
    schedule = {"id": kept["chargingProfileId"], **kept["chargingSchedule"]}
    profile = {
        "id": kept["chargingProfileId"],
        "stackLevel": kept["stackLevel"],
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kept["chargingProfileKind"],
        "chargingSchedule": [schedule],
    }
    for key in ("recurrencyKind", "validFrom", "validTo", "transactionId"):
        if key in kept:
            profile[key] = kept[key]
    return profile
