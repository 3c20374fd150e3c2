"""A CSMS that sends garbage, unknown actions, answers to CALLs never sent, CALLs that break the
schema: each gets the CALLERROR CONTRACT 10 names (or is ignored, with one log line), and the
pile goes on charging and billing."""

from __future__ import annotations

import json

import pytest
from ocpp.v16 import call

from rig.csms import Csms
from rig.pile import PileProcess
from tests.e2e.ocpp_rig import charging


def callerror(csms: Csms, mid: str) -> list[object]:
    csms.wait_for_answer(mid)
    return csms.answers_to(mid)[0]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('[2,"h1","Teleport",{}]', "NotImplemented"),
        ('[2,"h2","RemoteStartTransaction",{"connectorId":1}]', "OccurenceConstraintViolation"),
        ('[2,"h3","RemoteStartTransaction",{"idTag":7}]', "TypeConstraintViolation"),
        (
            '[2,"h4","UnlockConnector",{"connectorId":1,"extra":true}]',
            "PropertyConstraintViolation",
        ),
        (
            '[2,"h5","ReserveNow",{"connectorId":1,"expiryDate":"soon","idTag":"1234","reservationId":1}]',
            "FormationViolation",
        ),
        ('[2,"h6","Reset",[]]', "TypeConstraintViolation"),
        (
            '[2,"h7","SendLocalList",{"listVersion":1,"updateType":"Full"}]',
            "NotSupported",
        ),
        ('[7,"h8","Reset",{}]', "FormationViolation"),
    ],
)
def test_a_call_that_breaks_the_rules_gets_the_callerror_ocpp_names(
    csms: Csms, ocpp_pile: PileProcess, frame: str, code: str
) -> None:
    mid = json.loads(frame)[1]
    csms.send_raw(frame)
    answer = callerror(csms, mid)
    assert answer[0] == 4 and answer[2] == code, answer


def test_garbage_and_stray_answers_change_nothing_and_charging_goes_on(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    pile = ocpp_pile
    charging(csms, pile, 1)
    for junk in ("not json", "{}", "[]", '[3,"never-sent",{}]', '[4,"nope","X","y",{}]', "[2]"):
        csms.send_raw(junk)
    pile.sim("clock", "+600")
    pile.wait_until(lambda r: r["connectors"][0]["energy_wh"] > 1000)
    report = pile.status()["connectors"][0]
    assert report["state"] == "charging" and report["relay_closed"]
    assert csms.call(call.ClearCache()).status == "Accepted"
    assert pile.logs().count("ignored") <= 2  # one line, then at most one a minute


def test_a_csms_refusing_statuses_still_gets_the_transaction(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    csms.refuse_statuses = True
    charging(csms, ocpp_pile, 2)
    csms.wait("StartTransaction", connectorId=2)
    # Statuses go after the queue: the refusal may come after the StartTransaction.
    ocpp_pile.wait_until(lambda r: "refused the status" in ocpp_pile.logs())
    assert len(csms.paths) == 1  # the connection was never dropped for it
    assert ocpp_pile.logs().count("refused the status") == 1  # then once a minute


def test_nothing_the_csms_sends_closes_a_relay_the_interlock_refuses(
    csms: Csms, ocpp_pile: PileProcess
) -> None:
    pile = ocpp_pile
    pile.sim("plug", 1)
    pile.sim("estop", "on")
    pile.wait_until(lambda r: r["connectors"][0]["state"] == "faulted")
    csms.wait(
        "StatusNotification", connectorId=1, status="Faulted", vendorErrorCode="EmergencyStop"
    )
    start = call.RemoteStartTransaction(id_tag="t", connector_id=1)
    assert csms.call(start).status == "Rejected"
    assert csms.call(call.UnlockConnector(connector_id=1)).status == "UnlockFailed"
    report = pile.status()["connectors"][0]
    assert not report["relay_closed"]
    assert not csms.calls("StartTransaction")
