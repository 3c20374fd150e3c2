"""A Modbus meter dying mid-charge, seen from outside: a named fault once the meter has been
silent for metering.stale_after_s (on the simulated pile's clock, moved by `pilectl sim clock`;
the real detection time is a benchmark: benchmarks/meters.py), the session stopped and billed on
the last good reading, no stale value republished, no new session until the meter is back, and
one log line rather than a flood."""

from typing import Any

from rig.meter import ServedMeter

STALE_AFTER_S = 5  # the rig's metering.stale_after_s


def meter_line(port: int) -> str:
    return (
        f'meter = {{ model = "sdm630", transport = "tcp", host = "127.0.0.1", '
        f"port = {port}, unit = 1 }}"
    )


def test_meter_dies_mid_charge(make_rig: Any) -> None:
    served = ServedMeter("sdm630")
    port = served.serve_tcp()
    try:
        rig = make_rig(meters={1: meter_line(port)})
        be, pile = rig.backend, rig.pile
        pile.wait_until(lambda r: r["connectors"][0]["meter"] is not None)
        pile.sim("plug", 1)
        assert be.ask("start", connector=1, id_token="driver")["status"] == "Accepted"
        tx = be.event("transaction.started")["data"]
        assert tx["meter_start_wh"] == 1_000_000

        served.power_w, served.energy_wh = 7000.0, 1_004_200.0  # the vehicle drew 4.2 kWh
        pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] == 4200)
        served.stop()
        pile.sim("clock", f"+{STALE_AFTER_S - 1}")
        assert pile.status()["connectors"][0]["fault"] is None  # not yet: silent for 4 s
        mark = be.mark()
        pile.sim("clock", "+2")
        fault = be.event("fault.raised", code="MeterFailure", since=mark)
        assert fault["connector"] == 1
        message = fault["data"]["message"]  # names the cause, not just the symptom
        assert message.startswith("No valid energy meter reading: ") and f":{port}" in message
        stopped = be.event("transaction.stopped", transaction_id=tx["transaction_id"])["data"]
        assert (stopped["reason"], stopped["meter_stop_wh"], stopped["energy_wh"]) == (
            "Other",
            1_004_200,
            4200,
        )
        assert stopped["cost"]["total"] == "8.40"
        report = pile.status()["connectors"][0]
        assert (report["state"], report["relay_closed"]) == ("faulted", False)

        mark = be.mark()
        be.ask("trigger", what="meter")
        # Connector 2's simulated meter is alive and answers; connector 1's would come first.
        be.wait(lambda m: is_meter_values(m, 2), since=mark)
        assert not any(is_meter_values(m, 1) for m in be.snapshot()[mark:])
        reply = be.ask("start", connector=1, id_token="next-driver")
        assert (reply["status"], reply["reason"]) == ("Rejected", "Faulted")

        served = ServedMeter("sdm630")
        served.energy_wh = 1_004_200.0
        served.serve_tcp(port)
        be.event("fault.cleared", code="MeterFailure", timeout=20, since=mark)
        be.status(1, state="awaiting_payment", since=mark)
        about = [line for line in pile.logs().splitlines() if "meter" in line.lower()]
        warnings = [line for line in about if line.startswith("WARNING")]
        assert len(warnings) == 1, warnings  # the cause named once: no flood
        # and beside it: the fault raised, the meter answering again, the fault cleared
        assert len(about) <= 4, about
    finally:
        served.stop()


def is_meter_values(m: Any, connector: int) -> bool:
    p = m.payload
    return (
        m.topic.endswith("/events")
        and isinstance(p, dict)
        and p["type"] == "meter.values"
        and p["connector"] == connector
    )
