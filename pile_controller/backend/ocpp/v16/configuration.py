"""OCPP 1.6 configuration keys (`GetConfiguration` / `ChangeConfiguration`, CONTRACT 10): the
Core profile's, the SmartCharging limits and the California Pricing keys. The keys a CSMS may
change are kept in the journal (`Port.remember`) and survive restarts; the rest say what the pile
does and cannot be changed (`Rejected`). Unknown keys are `NotSupported`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from pile_controller.backend.ocpp.v16.messages import DEFAULT_SAMPLED, MEASURANDS
from pile_controller.config import Settings

JOURNAL_KEY = "ocpp16.configuration"


def _count(text: str) -> bool:
    return text.isdigit() and int(text) <= 86_400 * 7


def _bool(text: str) -> bool:
    return text.lower() in ("true", "false")


def _measurands(text: str) -> bool:
    names = [m.strip() for m in text.split(",")]
    return bool(text) and all(m in MEASURANDS for m in names)


@dataclass(frozen=True)
class Key:
    default: str
    check: Callable[[str], bool] | None = None  # None: read-only

    @property
    def readonly(self) -> bool:
        return self.check is None


def keys(settings: Settings) -> dict[str, Key]:
    n = len(settings.connectors)
    return {
        "HeartbeatInterval": Key("300", _count),
        "MeterValueSampleInterval": Key(str(settings.metering.interval_s), _count),
        "MeterValuesSampledData": Key(DEFAULT_SAMPLED, _measurands),
        "MeterValuesSampledDataMaxLength": Key(str(len(MEASURANDS))),
        "ConnectionTimeOut": Key(str(settings.pile.plug_timeout_s)),
        "NumberOfConnectors": Key(str(n)),
        "AuthorizeRemoteTxRequests": Key("false"),
        "LocalAuthorizeOffline": Key("true"),  # a reservation's code is matched at the pile
        "LocalPreAuthorize": Key("false"),
        "StopTransactionOnEVSideDisconnect": Key("true"),
        "StopTransactionOnInvalidId": Key("true"),
        "UnlockConnectorOnEVSideDisconnect": Key("true"),
        "TransactionMessageAttempts": Key("3", _count),
        "TransactionMessageRetryInterval": Key("60", _count),
        "ResetRetries": Key("0"),
        "GetConfigurationMaxKeys": Key("64"),
        "SupportedFeatureProfiles": Key(
            "Core,FirmwareManagement,Reservation,RemoteTrigger,SmartCharging"
        ),
        "ReserveConnectorZeroSupported": Key("true"),
        "ChargeProfileMaxStackLevel": Key("16"),
        "ChargingScheduleAllowedChargingRateUnit": Key("Current,Power"),
        "ChargingScheduleMaxPeriods": Key("24"),
        "MaxChargingProfilesInstalled": Key("16"),
        # California Pricing (the Open Charge Alliance's whitepaper)
        "CustomDisplayCostAndPrice": Key("true", _bool),
        "DefaultPriceText": Key("", lambda text: len(text) <= 500),
        "Language": Key("en", lambda text: 0 < len(text) <= 8),
    }


class Configuration:
    def __init__(self, settings: Settings, saved: str | None):
        self.keys = keys(settings)
        self.changed: dict[str, str] = {}
        if saved:
            loaded = json.loads(saved)
            self.changed = {k: str(v) for k, v in loaded.items() if k in self.keys}

    def __getitem__(self, name: str) -> str:
        return self.changed.get(name, self.keys[name].default)

    def number(self, name: str) -> int:
        return int(self[name])

    def get(self, names: list[str] | None) -> dict[str, object]:
        """`GetConfigurationResponse`."""
        wanted = names or list(self.keys)
        known = [
            {"key": n, "readonly": self.keys[n].readonly, "value": self[n]}
            for n in wanted
            if n in self.keys
        ]
        unknown = [n for n in wanted if n not in self.keys]
        body: dict[str, object] = {"configurationKey": known}
        if unknown:
            body["unknownKey"] = unknown
        return body

    def change(self, name: str, value: str) -> str:
        """`ChangeConfigurationResponse.status`; on `Accepted`, `saved()` is to be journaled."""
        key = self.keys.get(name)
        if key is None:
            return "NotSupported"
        if key.check is None or not key.check(value):
            return "Rejected"
        self.changed[name] = value
        return "Accepted"

    def saved(self) -> str:
        return json.dumps(self.changed, sort_keys=True)
