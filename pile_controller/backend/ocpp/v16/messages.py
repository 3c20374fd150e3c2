"""The pile's facts as OCPP 1.6 writes them (CONTRACT 10): the boot, a connector's status with
its fault's `errorCode`, and the journaled events that are transaction messages
(`StartTransaction`, `MeterValues`, `StopTransaction`). Pure translation, no I/O."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pile_controller import __version__
from pile_controller.backend.wire import ocpp_status
from pile_controller.config import OcppSettings
from pile_controller.core.connector import Connector

ERROR_CODE = {
    "CableLockFailure": "ConnectorLockFailure",
    "RcdTrip": "GroundFailure",
    "RelayWelded": "PowerSwitchFailure",
    "RelayFailure": "PowerSwitchFailure",
    "MeterFailure": "PowerMeterFailure",
    "PilotFault": "EVCommunicationError",
}
STOP_REASONS = {
    "EmergencyStop",
    "EVDisconnected",
    "HardReset",
    "Local",
    "Other",
    "PowerLoss",
    "Reboot",
    "Remote",
    "SoftReset",
    "UnlockCommand",
    "DeAuthorized",
}
# What `MeterValuesSampledData` may name, and how a sample's fields give each.
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage")
DEFAULT_SAMPLED = ",".join(MEASURANDS)
PHASES = ("L1", "L2", "L3")


def boot(ocpp: OcppSettings, charge_point_id: str) -> dict[str, Any]:
    return {
        "chargePointVendor": ocpp.vendor[:20],
        "chargePointModel": ocpp.model[:20],
        "chargePointSerialNumber": charge_point_id[:25],
        "firmwareVersion": __version__[:50],
    }


def pile_status(connectors: Iterable[Connector], timestamp: str) -> dict[str, Any]:
    """`StatusNotification` of connector 0, the pile itself: Unavailable once every connector
    is taken out of service, else Available."""
    out = all(c.state == "unavailable" for c in connectors)
    status = "Unavailable" if out else "Available"
    return {"connectorId": 0, "errorCode": "NoError", "status": status, "timestamp": timestamp}


def status(c: Connector, timestamp: str) -> dict[str, Any]:
    """`StatusNotification` of connector `c`, its fault as `errorCode`."""
    body: dict[str, Any] = {
        "connectorId": c.id,
        "errorCode": "NoError",
        "status": ocpp_status(c),
        "timestamp": timestamp,
    }
    fault = next(iter(c.faults.values()), None)
    if fault is not None:
        code = str(fault.code)
        body["errorCode"] = ERROR_CODE.get(code, "OtherError")
        if code not in ERROR_CODE:
            body["vendorErrorCode"] = code[:50]
        body["info"] = fault.message[:50]
    return body


def sampled_values(data: dict[str, Any], context: str, wanted: str) -> list[dict[str, Any]]:
    """One `meter.values` event's sample as `sampledValue`s: the measurands `wanted` names."""
    names = {m.strip() for m in wanted.split(",")}
    values: list[dict[str, Any]] = []

    def add(value: float, measurand: str, unit: str, phase: str | None = None) -> None:
        v = {"value": _number(value), "context": context, "measurand": measurand, "unit": unit}
        if phase:
            v["phase"] = phase
        values.append(v)

    if "Energy.Active.Import.Register" in names:
        add(data["energy_register_wh"], "Energy.Active.Import.Register", "Wh")
    if "Power.Active.Import" in names:
        add(data["power_w"], "Power.Active.Import", "W")
    if "Current.Import" in names:
        for phase, amps in zip(PHASES, data.get("current_a") or (), strict=False):
            add(amps, "Current.Import", "A", phase)
    if "Voltage" in names:
        for phase, volts in zip(PHASES, data.get("voltage_v") or (), strict=False):
            add(volts, "Voltage", "V", phase)
    return values


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


def start_transaction(event: dict[str, Any]) -> dict[str, Any]:
    data = event["data"]
    body = {
        "connectorId": event["connector"],
        "idTag": data["id_token"][:20],
        "meterStart": data["meter_start_wh"],
        "timestamp": data["started_at"],
    }
    if str(data.get("reservation_id")).isdigit():  # OCPP's reservations are numbered
        body["reservationId"] = int(data["reservation_id"])
    return body


def meter_values(events: list[dict[str, Any]], transaction_id: int, wanted: str) -> dict[str, Any]:
    """One MeterValues for a transaction's samples (each its own meterValue and time)."""
    return {
        "connectorId": events[0]["connector"],
        "transactionId": transaction_id,
        "meterValue": [
            {
                "timestamp": event["ts"],
                "sampledValue": sampled_values(event["data"], event["data"]["context"], wanted),
            }
            for event in events
        ],
    }


def stop_transaction(event: dict[str, Any], transaction_id: int) -> dict[str, Any]:
    """With `transactionData`: the begin and end readings of the meter's register, as billed."""
    data = event["data"]
    receipt = data.get("receipt") or {}
    reason = data["reason"] if data["reason"] in STOP_REASONS else "Other"

    def register(wh: int, at: str, context: str) -> dict[str, Any]:
        return {
            "timestamp": at,
            "sampledValue": [
                {
                    "value": str(wh),
                    "context": context,
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                }
            ],
        }

    body: dict[str, Any] = {
        "transactionId": transaction_id,
        "meterStop": data["meter_stop_wh"],
        "timestamp": data["stopped_at"],
        "reason": reason,
        "transactionData": [
            register(
                data["meter_start_wh"],
                receipt.get("started_at", data["stopped_at"]),
                "Transaction.Begin",
            ),
            register(data["meter_stop_wh"], data["stopped_at"], "Transaction.End"),
        ],
    }
    if receipt.get("id_token"):
        body["idTag"] = str(receipt["id_token"])[:20]
    return body


# The requestId of the CSMS's SignedUpdateFirmware or GetLog (the security whitepaper's), whose
# progress then goes as SignedFirmwareStatusNotification / LogStatusNotification; "" or none:
# UpdateFirmware's and GetDiagnostics' plain notifications. Journaled: `Installed` is said by
# the release that runs after the restart.
FIRMWARE_REQUEST_KEY = "ocpp16.firmware_request"
LOG_REQUEST_KEY = "ocpp16.log_request"
# What plain 1.6 has no word for (its FirmwareStatus enum): a failed check is a failed install.
PLAIN_FIRMWARE_STATUS = {
    "InstallVerificationFailed": "InstallationFailed",
    "InvalidSignature": "InstallationFailed",
}


def firmware_status(status: str, request: str | None) -> tuple[str, dict[str, Any]]:
    if request:
        return "SignedFirmwareStatusNotification", {"status": status, "requestId": int(request)}
    return "FirmwareStatusNotification", {"status": PLAIN_FIRMWARE_STATUS.get(status, status)}


def upload_status(status: str, request: str | None) -> tuple[str, dict[str, Any]]:
    if request:
        said = "UploadFailure" if status == "UploadFailed" else status
        return "LogStatusNotification", {"status": said, "requestId": int(request)}
    return "DiagnosticsStatusNotification", {"status": status}


def parse(payload: str) -> dict[str, Any]:
    return dict(json.loads(payload))
