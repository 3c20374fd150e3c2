"""The typed fault catalogue: what can hold a connector `faulted`, and how it ends a session."""

from dataclasses import dataclass
from enum import StrEnum


class FaultCode(StrEnum):
    EMERGENCY_STOP = "EmergencyStop"
    RCD_TRIP = "RcdTrip"
    RELAY_WELDED = "RelayWelded"
    RELAY_FAILURE = "RelayFailure"
    CABLE_LOCK_FAILURE = "CableLockFailure"
    PILOT_FAULT = "PilotFault"
    METER_FAILURE = "MeterFailure"


@dataclass(frozen=True)
class Fault:
    code: FaultCode
    message: str
    stop_reason: str  # the OCPP reason a running transaction is stopped with
    clears: str  # what ends the fault: said in the docs and to the technician


# Every fault forbids closing the relay (invariant 1) and releasing the cable (invariant 2).
CATALOGUE: dict[FaultCode, Fault] = {
    f.code: f
    for f in (
        Fault(
            FaultCode.EMERGENCY_STOP,
            "Emergency stop pressed",
            "EmergencyStop",
            "the emergency stop is released",
        ),
        Fault(
            FaultCode.RCD_TRIP,
            "Residual current device tripped",
            "Other",
            "the residual current device is reset",
        ),
        Fault(
            FaultCode.RELAY_WELDED,
            "Contactor reports closed after it was opened",
            "Other",
            "a technician's `pilectl fault clear`, once the relay feedback reports open",
        ),
        Fault(
            FaultCode.RELAY_FAILURE,
            "Contactor did not report closed when closed",
            "Other",
            "the relay feedback follows the command again",
        ),
        Fault(
            FaultCode.CABLE_LOCK_FAILURE,
            "Cable lock feedback does not follow the command",
            "Other",
            "the lock feedback follows the command again",
        ),
        Fault(
            FaultCode.PILOT_FAULT,
            "Control pilot fault: a short, -12 V, or no diode in the vehicle",
            "Other",
            "the pilot reads A or B again",
        ),
        Fault(
            FaultCode.METER_FAILURE,
            "No valid energy meter reading",
            "Other",
            "a valid meter reading arrives",
        ),
    )
}
