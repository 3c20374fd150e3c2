"""The CSMS's CALLs to the pile (CONTRACT 10), each already checked against its schema: those
that are backend commands become the same core commands as MQTT's and are answered after the
journal has their effects; configuration, profiles and triggers are the link's own."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pile_controller.backend.ocpp import rpc
from pile_controller.backend.ocpp.calls import (
    APPOINTMENT_CODE,
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
from pile_controller.backend.ocpp.v16.configuration import JOURNAL_KEY as CONFIG_KEY
from pile_controller.backend.ocpp.v16.messages import FIRMWARE_REQUEST_KEY, LOG_REQUEST_KEY
from pile_controller.core import commands as cmd
from pile_controller.core.times import parse_iso
from pile_controller.fleet import diagnostics_file

if TYPE_CHECKING:
    from pile_controller.backend.ocpp.v16.link import Ocpp16Link

log = logging.getLogger("pile_controller")
COSTMSG = "org.openchargealliance.costmsg"  # California Pricing


class Incoming(Calls):
    def __init__(self, link: Ocpp16Link):
        super().__init__(link, link.port)
        self.link: Ocpp16Link = link
        self.handlers = {
            "RemoteStartTransaction": self.remote_start,
            "RemoteStopTransaction": self.remote_stop,
            "ReserveNow": self.reserve_now,
            "CancelReservation": self.cancel_reservation,
            "ChangeAvailability": self.change_availability,
            "UnlockConnector": self.unlock,
            "DataTransfer": self.data_transfer,
            "TriggerMessage": self.trigger,
            "Reset": self.reset,
            "ClearCache": lambda call: {"status": "Accepted"},  # no cache of idTags to clear
            "GetConfiguration": self.get_configuration,
            "ChangeConfiguration": self.change_configuration,
            "SetChargingProfile": self.set_charging_profile,
            "ClearChargingProfile": self.clear_charging_profile,
            "GetCompositeSchedule": self.composite_schedule,
            "GetDiagnostics": self.get_diagnostics,
            "GetLog": self.get_log,
            "UpdateFirmware": self.update_firmware,
            "SignedUpdateFirmware": self.signed_update_firmware,
        }

    # --- through the core ------------------------------------------------------------------

    def remote_start(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        p = call.payload
        connectors = self.port.connectors()
        cid, tag = p.get("connectorId", 0), p["idTag"]  # 0: the core chooses
        if cid != 0 and cid not in connectors:
            return {"status": "Rejected"}
        profile = p.get("chargingProfile")
        if profile is not None and profile["chargingProfilePurpose"] != "TxProfile":
            return {"status": "Rejected"}
        deferred = self._execute(call, cmd.RemoteStart(cid, tag), accepted)
        if profile is not None:  # the transaction's profile, on the connector that took it
            started = next((c.id for c in connectors.values() if started_by(c, tag)), None)
            if started is not None:
                self._install(started, profile)
        return deferred

    def remote_stop(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        tid = self.link.pile_transaction(call.payload["transactionId"])
        if tid is None:
            return {"status": "Rejected"}
        return self._execute(call, cmd.RemoteStop(tid), accepted)

    def reserve_now(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        p = call.payload
        code = p["idTag"]
        if not APPOINTMENT_CODE.fullmatch(code):  # the idTag is the code typed at the pile
            return {"status": "Rejected"}
        try:
            expires = parse_iso(p["expiryDate"])
        except ValueError:
            raise rpc.RpcError("PropertyConstraintViolation", "expiryDate is not a time") from None
        reserve = cmd.Reserve(p["connectorId"], str(p["reservationId"]), code, code, expires)
        return self._execute(call, reserve, reservation_status)

    def cancel_reservation(self, call: rpc.Call) -> Deferred:
        command = cmd.CancelReservation(str(call.payload["reservationId"]))
        return self._execute(call, command, accepted)

    def change_availability(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        p = call.payload
        if p["connectorId"] != 0 and p["connectorId"] not in self.port.connectors():
            return {"status": "Rejected"}
        command = cmd.SetAvailability(p["connectorId"], p["type"] == "Operative")
        return self._execute(call, command, availability_status)

    def unlock(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        cid = call.payload["connectorId"]
        if cid not in self.port.connectors():
            return {"status": "NotSupported"}
        return self._unlock(call, cid)

    def data_transfer(self, call: rpc.Call) -> dict[str, Any] | Deferred:
        p = call.payload
        vendor, message = p["vendorId"], p.get("messageId")
        if vendor == COSTMSG:
            return self._cost_message(call, message, p.get("data"))
        if vendor != self.link.ocpp.vendor_id:
            return {"status": "UnknownVendorId"}
        if message != "PaymentSettled":
            return {"status": "UnknownMessageId"}
        data = data_of(p.get("data"))
        return self._paid(
            call, self.link.pile_transaction(data.get("transactionId", -1)), data.get("amount")
        )

    def _cost_message(
        self, call: rpc.Call, message: str | None, raw: Any
    ) -> dict[str, Any] | Deferred:
        data = data_of(raw)
        if message == "FinalCost":
            tid = self.link.pile_transaction(data.get("transactionId", -1))
            cost = money(data.get("cost"))
            if tid is None or cost is None:
                return {"status": "Rejected"}
            qr = data.get("qrCodeText") if isinstance(data.get("qrCodeText"), str) else None
            return self._execute(call, cmd.Payment(tid, "final", cost, qr), accepted)
        if message == "RunningCost":
            tid = self.link.pile_transaction(data.get("transactionId", -1))
            cost = money(data.get("cost"))
            if tid is None or cost is None:
                return {"status": "Rejected"}
            return self._execute(call, cmd.ShowPrice(tid, None, cost, None), accepted)
        if message == "SetUserPrice":
            token, text = data.get("idToken"), data.get("priceText")
            if not isinstance(token, str) or not isinstance(text, str) or not text:
                return {"status": "Rejected"}
            return self._execute(call, cmd.ShowPrice(None, token, None, text[:120]), accepted)
        return {"status": "UnknownMessageId"}

    def get_diagnostics(self, call: rpc.Call) -> Deferred:
        """The archive goes to `location` (HTTP or FTP); answered with its name, or without
        one while another upload runs."""
        name = diagnostics_file(self.link.settings.pile.id, self.port.now())
        order = cmd.Diagnostics(call.payload["location"], name)
        answer = self.requested(call, LOG_REQUEST_KEY, "", {"fileName": name}, {})
        return self._execute(call, order, accepted, answer)

    def get_log(self, call: rpc.Call) -> Deferred:
        """The security whitepaper's GetLog: the same archive as GetDiagnostics, its progress
        as LogStatusNotification."""
        return self._get_log(call, LOG_REQUEST_KEY)

    def update_firmware(self, call: rpc.Call) -> Deferred:
        """The release at `location`, its signature at `location` + ".sig" (plain 1.6 carries
        none); answered with nothing, as 1.6 says, even when another update runs (logged)."""
        p = call.payload
        order = cmd.Update(p["location"], retrieve_at=parse_time(p["retrieveDate"]))
        answer = self.requested(call, FIRMWARE_REQUEST_KEY, "", {}, {})
        return self._execute(call, order, accepted, answer)

    def signed_update_firmware(self, call: rpc.Call) -> Deferred:
        """The whitepaper's SignedUpdateFirmware, its progress as
        SignedFirmwareStatusNotification."""
        return self._signed_update(call, FIRMWARE_REQUEST_KEY)

    # --- the link's own --------------------------------------------------------------------

    def trigger(self, call: rpc.Call) -> dict[str, Any]:
        p = call.payload
        what, cid = p["requestedMessage"], p.get("connectorId")
        if cid is not None and cid != 0 and cid not in self.port.connectors():
            return {"status": "Rejected"}
        if what == "StatusNotification":
            for c in [cid] if cid is not None else [0, *self.port.connectors()]:
                self.link.status(c, again=True)
        elif what == "Heartbeat":
            self.spawn(self.link.quietly(self.link.heartbeat()))
        elif what == "BootNotification":
            self.later("BootNotification", self.link.boot())
        elif what == "MeterValues":
            for c in [cid] if cid else list(self.port.connectors()):
                self.link.send_next_sample(c)
            self.port.execute(self.quiet(cmd.Trigger("meter")))
        elif what in ("FirmwareStatusNotification", "DiagnosticsStatusNotification"):
            # What runs now, or Idle (1.6's word for nothing under way).
            said = self.link.under_way.get(what, "Idle")
            self.later(what, {"status": said})
        else:
            return {"status": "NotImplemented"}
        return {"status": "Accepted"}

    def reset(self, call: rpc.Call) -> dict[str, Any]:
        """Running transactions stop (SoftReset / HardReset), then the daemon exits for
        systemd to start it again."""
        reason = f"{call.payload['type']}Reset"
        asyncio.get_running_loop().call_soon(self.port.restart, reason)
        return {"status": "Accepted"}

    def get_configuration(self, call: rpc.Call) -> dict[str, Any]:
        return self.link.configuration.get(call.payload.get("key"))

    def change_configuration(self, call: rpc.Call) -> dict[str, Any]:
        status = self.link.configuration.change(call.payload["key"], call.payload["value"])
        if status == "Accepted":
            self.port.remember({CONFIG_KEY: self.link.configuration.saved()})
        return {"status": status}

    def set_charging_profile(self, call: rpc.Call) -> dict[str, Any]:
        return self._set_profile(call.payload["connectorId"], call.payload["csChargingProfiles"])

    def clear_charging_profile(self, call: rpc.Call) -> dict[str, Any]:
        p = call.payload
        return self._clear_profiles(
            p.get("id"), p.get("connectorId"), p.get("chargingProfilePurpose"), p.get("stackLevel")
        )

    def composite_schedule(self, call: rpc.Call) -> dict[str, Any]:
        cid = call.payload["connectorId"]
        schedule = self._composite(cid, call.payload["duration"])
        if schedule is None:
            return {"status": "Rejected"}
        return {
            "status": "Accepted",
            "connectorId": cid,
            "scheduleStart": schedule["startSchedule"],
            "chargingSchedule": schedule,
        }
