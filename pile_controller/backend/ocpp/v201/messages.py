"""The pile's facts as OCPP 2.0.1 writes them (CONTRACT 11): the boot, a connector's status (an
EVSE with one connector: `evseId` = `connectorId` = its id) and the journaled events that are a
transaction's `TransactionEvent`s. Pure translation, no I/O."""

from __future__ import annotations

from typing import Any

from pile_controller import __version__
from pile_controller.backend.wire import ocpp_status
from pile_controller.config import OcppSettings
from pile_controller.core.billing import SUSPENDED_EV_BELOW_W
from pile_controller.core.connector import Connector

MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage")
UNITS = {
    "Energy.Active.Import.Register": "Wh",
    "Power.Active.Import": "W",
    "Current.Import": "A",
    "Voltage": "V",
}
PHASES = ("L1", "L2", "L3")
REGISTER = "Energy.Active.Import.Register"
# The 1.6 status column of CONTRACT 2 in 2.0.1's five words.
OCCUPIED = {"Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"}
# The core's stop reasons in 2.0.1's `stoppedReason` and the `triggerReason` of the Ended.
STOPPED_REASON = {
    "SoftReset": "ImmediateReset",
    "HardReset": "ImmediateReset",
    "CostLimitReached": "LocalOutOfCredit",  # 2.0.1 has no cost-limit reason (CONTRACT 11)
    "UnlockCommand": "Other",
}
STOPPED_REASONS = {
    "DeAuthorized",
    "EmergencyStop",
    "EnergyLimitReached",
    "EVDisconnected",
    "ImmediateReset",
    "Local",
    "LocalOutOfCredit",
    "Other",
    "PowerLoss",
    "Reboot",
    "Remote",
}
TRIGGER_OF_STOP = {
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "EVDisconnected": "EVCommunicationLost",
    "EnergyLimitReached": "EnergyLimitReached",
    "LocalOutOfCredit": "Deauthorized",
    "DeAuthorized": "Deauthorized",
    "ImmediateReset": "ResetCommand",
}
TRANSACTION_ID_MAX = 36


def wire_id(transaction_id: str) -> str:
    """The pile's transaction id as 2.0.1 carries it (at most 36 characters: the random tail
    is kept, which is what makes it unique)."""
    return transaction_id[-TRANSACTION_ID_MAX:]


def boot(ocpp: OcppSettings, charge_point_id: str) -> dict[str, Any]:
    return {
        "reason": "PowerUp",
        "chargingStation": {
            "model": ocpp.model[:20],
            "vendorName": ocpp.vendor[:50],
            "serialNumber": charge_point_id[:25],
            "firmwareVersion": __version__[:50],
        },
    }


def connector_status(c: Connector) -> str:
    said = ocpp_status(c)
    if said in OCCUPIED:
        # Authorized with nothing plugged yet is still free to look at.
        return "Occupied" if said != "Preparing" or c.plugged else "Available"
    return said


def status(c: Connector, timestamp: str) -> dict[str, Any]:
    return {
        "timestamp": timestamp,
        "connectorStatus": connector_status(c),
        "evseId": c.id,
        "connectorId": c.id,
    }


def sampled_values(data: dict[str, Any], context: str, wanted: str) -> list[dict[str, Any]]:
    """One `meter.values` event's sample as `sampledValue`s: the measurands `wanted` names."""
    names = {m.strip() for m in wanted.split(",")}
    values: list[dict[str, Any]] = []

    def add(value: float, measurand: str, phase: str | None = None) -> None:
        v: dict[str, Any] = {
            "value": _number(value),
            "context": context,
            "measurand": measurand,
            "unitOfMeasure": {"unit": UNITS[measurand]},
        }
        if phase:
            v["phase"] = phase
        values.append(v)

    if REGISTER in names:
        add(data["energy_register_wh"], REGISTER)
    if "Power.Active.Import" in names:
        add(data["power_w"], "Power.Active.Import")
    if "Current.Import" in names:
        for phase, amps in zip(PHASES, data.get("current_a") or (), strict=False):
            add(amps, "Current.Import", phase)
    if "Voltage" in names:
        for phase, volts in zip(PHASES, data.get("voltage_v") or (), strict=False):
            add(volts, "Voltage", phase)
    return values


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 3)


def register(wh: int, at: str, context: str) -> dict[str, Any]:
    """The meter's import register as one meterValue (a transaction's begin and end)."""
    return {
        "timestamp": at,
        "sampledValue": [
            {
                "value": wh,
                "context": context,
                "measurand": REGISTER,
                "unitOfMeasure": {"unit": "Wh"},
            }
        ],
    }


def transaction_event(
    event_type: str,
    timestamp: str,
    trigger: str,
    seq_no: int,
    transaction: dict[str, Any],
    connector: int,
    meter_value: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": timestamp,
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": transaction,
        "evse": {"id": connector, "connectorId": connector},
    }
    if meter_value:
        body["meterValue"] = meter_value
    return body


def late(body: dict[str, Any], offline: bool) -> dict[str, Any]:
    """`body` marked `offline` when what it tells happened while the CSMS was out of reach."""
    return {**body, "offline": True} if offline else body


def started(event: dict[str, Any], seq_no: int, remote: dict[str, Any] | None) -> dict[str, Any]:
    """`remote`: the RequestStartTransaction it answers (`remoteStartId`, `idToken`)."""
    data = event["data"]
    info: dict[str, Any] = {
        "transactionId": wire_id(data["transaction_id"]),
        "chargingState": "EVConnected",
    }
    if remote is not None:
        info["remoteStartId"] = remote["remoteStartId"]
        token = remote["idToken"]
    else:  # typed at the pile: the appointment code of a reservation
        token = {"idToken": data["id_token"][:36], "type": "KeyCode"}
    body = transaction_event(
        "Started",
        data["started_at"],
        "RemoteStart" if remote is not None else "Authorized",
        seq_no,
        info,
        event["connector"],
        [register(data["meter_start_wh"], data["started_at"], "Transaction.Begin")],
    )
    body["idToken"] = token
    if str(data.get("reservation_id")).isdigit():  # OCPP's reservations are numbered
        body["reservationId"] = int(data["reservation_id"])
    return body


# Who holds a running charge (Connector.suspended()) as 2.0.1's chargingState.
CHARGING_STATE = {None: "Charging", "EV": "SuspendedEV", "EVSE": "SuspendedEVSE"}


def updated(
    events: list[dict[str, Any]],
    seq_no: int,
    wanted: str,
    trigger: str,
    state: str | None = None,
) -> dict[str, Any]:
    """A transaction's samples in a row as one Updated, each its own meterValue and time.
    `state`: the chargingState now, for samples told as they are taken; None (samples told
    late): as the last sample's power says."""
    last = events[-1]
    if state is None:
        state = "Charging" if last["data"]["power_w"] >= SUSPENDED_EV_BELOW_W else "SuspendedEV"
    info = {"transactionId": wire_id(last["data"]["transaction_id"]), "chargingState": state}
    meter_value = [
        {"timestamp": e["ts"], "sampledValue": sampled_values(e["data"], "Sample.Periodic", wanted)}
        for e in events
    ]
    return transaction_event(
        "Updated", last["ts"], trigger, seq_no, info, last["connector"], meter_value
    )


def ended(event: dict[str, Any], seq_no: int) -> dict[str, Any]:
    data = event["data"]
    reason = STOPPED_REASON.get(data["reason"], data["reason"])
    if reason not in STOPPED_REASONS:
        reason = "Other"
    info = {
        "transactionId": wire_id(data["transaction_id"]),
        "chargingState": "Idle" if reason == "EVDisconnected" else "EVConnected",
        "stoppedReason": reason,
    }
    return transaction_event(
        "Ended",
        data["stopped_at"],
        TRIGGER_OF_STOP.get(reason, "AbnormalCondition"),
        seq_no,
        info,
        event["connector"],
        [register(data["meter_stop_wh"], data["stopped_at"], "Transaction.End")],
    )


# The requestId of the CSMS's UpdateFirmware or GetLog, whose progress carries it; journaled:
# `Installed` is said by the release that runs after the restart.
FIRMWARE_KEY = "ocpp201.firmware_request"
LOG_KEY = "ocpp201.log_request"
PROGRESS = {
    "firmware.status": ("FirmwareStatusNotification", FIRMWARE_KEY),
    "diagnostics.status": ("LogStatusNotification", LOG_KEY),
}


def progress(kind: str, status: str, request: str | None) -> tuple[str, dict[str, Any]]:
    """An update's or an upload's status as its notification (every status of CONTRACT 12 is
    2.0.1's; an upload's failure is `UploadFailure` there)."""
    action = PROGRESS[kind][0]
    body: dict[str, Any] = {"status": "UploadFailure" if status == "UploadFailed" else status}
    if request:
        body["requestId"] = int(request)
    return action, body


def fault_event(event: dict[str, Any], event_id: int) -> dict[str, Any]:
    """A connector's fault raised or cleared as NotifyEvent: 2.0.1's StatusNotification says
    only `Faulted`; this says which fault (the code in `techCode`, CONTRACT 2's words)."""
    data, cid = event["data"], event["connector"]
    raised = event["type"] == "fault.raised"
    item: dict[str, Any] = {
        "eventId": event_id,
        "timestamp": event["ts"],
        "trigger": "Delta",
        "actualValue": "true" if raised else "false",
        "techCode": str(data["code"])[:50],
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "Connector", "evse": {"id": cid, "connectorId": cid}}
        if cid
        else {"name": "ChargingStation"},
        "variable": {"name": "Problem"},
    }
    if raised:
        item["techInfo"] = str(data["message"])[:500]
    else:
        item["cleared"] = True
    return {"generatedAt": event["ts"], "seqNo": 0, "tbc": False, "eventData": [item]}
