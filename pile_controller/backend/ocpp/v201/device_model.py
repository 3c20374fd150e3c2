"""OCPP 2.0.1's device model (CONTRACT 11): the components and variables a station must have
and those the pile's behaviour reads, for `GetVariables`, `SetVariables` and `GetBaseReport`.
Values a CSMS may set are checked, kept in the journal (`Port.remember`) and survive restarts;
the rest say what the pile is or does and are `ReadOnly`. Only the `Actual` attribute exists."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pile_controller.backend.ocpp.v201.messages import MEASURANDS, REGISTER
from pile_controller.config import Settings
from pile_controller.core.connector import Connector

JOURNAL_KEY = "ocpp201.variables"
MAX_VALUE = 2500  # attributeValue's length
DISPLAY_MESSAGES_MAX = 8
STATES = "Available,Occupied,Reserved,Unavailable,Faulted"

Check = Callable[[str], bool]


def _integer(low: int, high: int) -> Check:
    return lambda text: text.lstrip("-").isdigit() and low <= int(text) <= high


def _boolean(text: str) -> bool:
    return text in ("true", "false")


def _measurands(text: str) -> bool:
    names = [m.strip() for m in text.split(",")]
    return bool(text) and all(m in MEASURANDS for m in names)


def key_of(component: str, name: str, instance: str | None = None, evse: int | None = None) -> str:
    """A variable's key in the table and the journal."""
    return "/".join(str(part) for part in (component, evse, name, instance))


@dataclass(frozen=True)
class Variable:
    component: str
    name: str
    data_type: str  # DataEnumType: integer, boolean, string, MemberList, OptionList, ...
    value: str | Callable[[], str]  # a fixed value or default, or what the pile reads now
    check: Check | None = None  # None: ReadOnly
    instance: str | None = None  # the variable's instance
    evse: int | None = None  # the component's EVSE (and connector: an EVSE has one)
    connector: bool = False  # the Connector component of that EVSE
    write_only: bool = False  # a secret: set, never read
    unit: str | None = None
    values_list: str | None = None

    @property
    def mutability(self) -> str:
        if self.write_only:
            return "WriteOnly"
        return "ReadOnly" if self.check is None else "ReadWrite"

    @property
    def key(self) -> str:
        return key_of(self.component, self.name, self.instance, self.evse)

    def component_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.component}
        if self.evse is not None:
            # An EVSE has one connector, numbered as the EVSE (CONTRACT 11).
            body["evse"] = {
                "id": self.evse,
                **({"connectorId": self.evse} if self.connector else {}),
            }
        return body

    def variable_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name}
        if self.instance is not None:
            body["instance"] = self.instance
        return body


def variables(settings: Settings, connectors: Callable[[], dict[int, Connector]]) -> list[Variable]:
    ocpp = settings.ocpp
    assert ocpp is not None
    V = Variable

    def availability(cid: int | None) -> Callable[[], str]:
        def state() -> str:
            from pile_controller.backend.ocpp.v201.messages import connector_status

            chosen = [c for c in connectors().values() if cid in (None, c.id)]
            said = [connector_status(c) for c in chosen]
            if cid is None:  # the station: Unavailable only once every EVSE is
                return "Unavailable" if all(s == "Unavailable" for s in said) else "Available"
            return said[0] if said else "Unavailable"

        return state

    def password_check(text: str) -> bool:
        basic = ocpp.security_profile in (1, 2)
        return basic and 16 <= len(text) <= 40 and text.isprintable() and text.isascii()

    def availability_state(component: str, cid: int | None, **where: Any) -> Variable:
        return V(
            component,
            "AvailabilityState",
            "OptionList",
            availability(cid),
            values_list=STATES,
            **where,
        )

    table = [
        V(
            "ChargingStation",
            "AvailabilityState",
            "OptionList",
            availability(None),
            values_list=STATES,
        ),
        V("ChargingStation", "Available", "boolean", "true"),
        V("ChargingStation", "Model", "string", ocpp.model),
        V("ChargingStation", "VendorName", "string", ocpp.vendor),
        V("OCPPCommCtrlr", "HeartbeatInterval", "integer", "300", _integer(1, 86_400), unit="s"),
        V("OCPPCommCtrlr", "MessageTimeout", "integer", "30", instance="Default", unit="s"),
        V("OCPPCommCtrlr", "MessageAttempts", "integer", "3", _integer(1, 10), "TransactionEvent"),
        V(
            "OCPPCommCtrlr",
            "MessageAttemptInterval",
            "integer",
            "60",
            _integer(1, 3600),
            "TransactionEvent",
            unit="s",
        ),
        V("OCPPCommCtrlr", "OfflineThreshold", "integer", "30", unit="s"),
        V("OCPPCommCtrlr", "ResetRetries", "integer", "0"),
        V("OCPPCommCtrlr", "UnlockOnEVSideDisconnect", "boolean", "false"),
        V("OCPPCommCtrlr", "FileTransferProtocols", "MemberList", "HTTP,HTTPS"),
        V("OCPPCommCtrlr", "NetworkConfigurationPriority", "SequenceList", "0"),
        V("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "integer", "3"),
        V(
            "SampledDataCtrlr",
            "TxUpdatedInterval",
            "integer",
            str(settings.metering.interval_s),
            _integer(0, 86_400),
            unit="s",
        ),
        V(
            "SampledDataCtrlr",
            "TxUpdatedMeasurands",
            "MemberList",
            ",".join(MEASURANDS),
            _measurands,
            values_list=",".join(MEASURANDS),
        ),
        V("SampledDataCtrlr", "TxStartedMeasurands", "MemberList", REGISTER),
        V("SampledDataCtrlr", "TxEndedMeasurands", "MemberList", REGISTER),
        V("SampledDataCtrlr", "TxEndedInterval", "integer", "0", unit="s"),
        V(
            "TxCtrlr",
            "EVConnectionTimeOut",
            "integer",
            str(settings.pile.plug_timeout_s),
            unit="s",
        ),
        V("TxCtrlr", "StopTxOnEVSideDisconnect", "boolean", "true"),
        V("TxCtrlr", "StopTxOnInvalidId", "boolean", "true"),
        V("TxCtrlr", "TxStartPoint", "MemberList", "PowerPathClosed"),
        V("TxCtrlr", "TxStopPoint", "MemberList", "PowerPathClosed"),
        V("AuthCtrlr", "Enabled", "boolean", "true"),
        V("AuthCtrlr", "AuthorizeRemoteStart", "boolean", "false", _boolean),
        V("AuthCtrlr", "LocalAuthorizeOffline", "boolean", "true"),
        V("AuthCtrlr", "LocalPreAuthorize", "boolean", "false"),
        V("SecurityCtrlr", "SecurityProfile", "integer", str(ocpp.security_profile)),
        V("SecurityCtrlr", "Identity", "string", ocpp.charge_point_id or settings.pile.id),
        V("SecurityCtrlr", "OrganizationName", "string", ocpp.vendor),
        # Profiles 1 and 2: the CSMS may give the pile a new password (journaled; the file's
        # stays the fallback). OCPP's passwordString: 16 to 40 printable characters.
        V("SecurityCtrlr", "BasicAuthPassword", "string", "", password_check, write_only=True),
        V("DisplayMessageCtrlr", "Enabled", "boolean", "true"),
        V("DisplayMessageCtrlr", "Available", "boolean", "true"),
        V("DisplayMessageCtrlr", "DisplayMessages", "integer", str(DISPLAY_MESSAGES_MAX)),
        V("DisplayMessageCtrlr", "SupportedFormats", "MemberList", "ASCII,UTF8,URI"),
        V(
            "DisplayMessageCtrlr",
            "SupportedPriorities",
            "MemberList",
            "AlwaysFront,InFront,NormalCycle",
        ),
        V("SmartChargingCtrlr", "Enabled", "boolean", "true"),
        V("SmartChargingCtrlr", "RateUnit", "MemberList", "A,W"),
        V("SmartChargingCtrlr", "PeriodsPerSchedule", "integer", "24"),
        V("SmartChargingCtrlr", "ProfileStackLevel", "integer", "16"),
        V("ReservationCtrlr", "Enabled", "boolean", "true"),
        V("ReservationCtrlr", "NonEvseSpecific", "boolean", "true"),
        V("DeviceDataCtrlr", "ItemsPerMessage", "integer", "32", instance="GetReport"),
        V("DeviceDataCtrlr", "ItemsPerMessage", "integer", "32", instance="GetVariables"),
        V("DeviceDataCtrlr", "ItemsPerMessage", "integer", "32", instance="SetVariables"),
        V("DeviceDataCtrlr", "BytesPerMessage", "integer", "65000", instance="GetReport"),
        V("DeviceDataCtrlr", "BytesPerMessage", "integer", "65000", instance="GetVariables"),
        V("DeviceDataCtrlr", "BytesPerMessage", "integer", "65000", instance="SetVariables"),
    ]
    for connector in settings.connectors:
        n = connector.id
        table += [
            V(
                "EVSE",
                "AvailabilityState",
                "OptionList",
                availability(n),
                evse=n,
                values_list=STATES,
            ),
            V("EVSE", "Available", "boolean", "true", evse=n),
            V("EVSE", "SupplyPhases", "integer", "3", evse=n),
            availability_state("Connector", n, evse=n, connector=True),
            V("Connector", "Available", "boolean", "true", evse=n, connector=True),
            V("Connector", "ConnectorType", "OptionList", "cType2", evse=n, connector=True),
            V("Connector", "SupplyPhases", "integer", "3", evse=n, connector=True),
        ]
    return table


class DeviceModel:
    def __init__(
        self,
        settings: Settings,
        connectors: Callable[[], dict[int, Connector]],
        saved: str | None,
    ):
        self.table = {v.key: v for v in variables(settings, connectors)}
        self.changed: dict[str, str] = {}
        if saved:
            loaded = json.loads(saved)
            self.changed = {k: str(v) for k, v in loaded.items() if k in self.table}

    def password(self) -> str | None:
        """The Basic password the CSMS set, if it did."""
        return self.changed.get(key_of("SecurityCtrlr", "BasicAuthPassword"))

    def value(self, component: str, name: str, instance: str | None = None) -> str:
        return self._value(self.table[key_of(component, name, instance)])

    def told(self, component: str, name: str, value: str) -> None:
        """A value the CSMS gave outside SetVariables (the boot's heartbeat interval): in
        force, journaled with the next change."""
        self.changed[key_of(component, name)] = value

    def number(self, component: str, name: str, instance: str | None = None) -> int:
        return int(self.value(component, name, instance))

    def _value(self, v: Variable) -> str:
        if v.key in self.changed:
            return self.changed[v.key]
        return v.value() if callable(v.value) else v.value

    def find(self, component: dict[str, Any], variable: dict[str, Any]) -> Variable | str:
        """The variable a request names, or the status that says why there is none."""
        evse = component.get("evse", {}).get("id")
        named = [
            v for v in self.table.values() if v.component == component["name"] and v.evse == evse
        ]
        if not named:
            return "UnknownComponent"
        for v in named:
            if v.name == variable["name"] and v.instance == variable.get("instance"):
                return v
        return "UnknownVariable"

    def get(self, request: dict[str, Any]) -> dict[str, Any]:
        """One `GetVariableResult`."""
        result, found = self._named(request)
        if found is None:
            return result
        if found.write_only:
            return {**result, "attributeStatus": "Rejected"}
        return {**result, "attributeStatus": "Accepted", "attributeValue": self._value(found)}

    def set(self, request: dict[str, Any]) -> dict[str, Any]:
        """One `SetVariableResult`; an accepted value is in `changed`, to be journaled."""
        result, found = self._named(request)
        if found is None:
            return result
        value = request["attributeValue"]
        if found.check is None or not found.check(value):
            return {**result, "attributeStatus": "Rejected"}
        self.changed[found.key] = value
        return {**result, "attributeStatus": "Accepted"}

    def _named(self, request: dict[str, Any]) -> tuple[dict[str, Any], Variable | None]:
        """The variable a Get or Set names, or the result that says why there is none."""
        result = {"component": request["component"], "variable": request["variable"]}
        found = self.find(request["component"], request["variable"])
        if isinstance(found, str):
            return {**result, "attributeStatus": found}, None
        if request.get("attributeType", "Actual") != "Actual":
            return {**result, "attributeStatus": "NotSupportedAttributeType"}, None
        return result, found

    def saved(self) -> str:
        return json.dumps(self.changed, sort_keys=True)

    def report(self, base: str) -> Iterator[dict[str, Any]]:
        """`reportData` of `GetBaseReport`: everything (FullInventory), what may be set
        (ConfigurationInventory) or the availability (SummaryInventory)."""
        for v in self.table.values():
            if base == "ConfigurationInventory" and v.mutability == "ReadOnly":
                continue
            if base == "SummaryInventory" and v.name != "AvailabilityState":
                continue
            attribute: dict[str, Any] = {
                "type": "Actual",
                "mutability": v.mutability,
                "persistent": True,
                "constant": v.check is None and not callable(v.value),
            }
            if not v.write_only:
                attribute["value"] = self._value(v)[:MAX_VALUE]
            characteristics: dict[str, Any] = {
                "dataType": v.data_type,
                "supportsMonitoring": False,
            }
            if v.unit:
                characteristics["unit"] = v.unit
            if v.data_type in ("OptionList", "MemberList", "SequenceList"):
                characteristics["valuesList"] = v.values_list or self._value(v)
            yield {
                "component": v.component_json(),
                "variable": v.variable_json(),
                "variableAttribute": [attribute],
                "variableCharacteristics": characteristics,
            }
