"""The connector state diagram, generated from the transition table itself (Mermaid), and the
control pilot's rules, generated from the sets and timings the core decides by.

`python -m pile_controller.core.diagram` prints both; docs/STATES.md carries the current output
and a test keeps them the same.
"""

from hal import pilot as p
from pile_controller.core import power as c
from pile_controller.core.states import TABLE, State, Trigger


def mermaid() -> str:
    """Every row of the table as an edge; a start's rows (`restore`) from the start."""
    lines = ["stateDiagram-v2"]
    for source, rows_by_trigger in TABLE.items():
        for trigger, rows in rows_by_trigger.items():
            for row in rows:
                guards = [*row.when, *(f"not {u}" for u in row.unless)]
                label = f"{trigger} [{' and '.join(guards)}]" if guards else str(trigger)
                start = "[*]" if trigger is Trigger.RESTORE and source is State.IDLE else source
                lines.append(f"    {start} --> {row.dest}: {label}")
    return "\n".join(lines)


def pilot_rules() -> str:
    """What the pile does in each pilot state, and the timings of the contactor."""
    lines = [
        "| pilot | means | the contactor may close | while a session runs | clears `PilotFault` |",
        "|---|---|---|---|---|",
    ]
    for state in p.CpState:
        if state in p.ASKS_FOR_POWER:
            close = "yes"
        elif state in p.ASKS_WITH_VENTILATION:
            close = "where `ventilation = true`"
        else:
            close = "no: it opens"
        running = "`PilotFault`: open at once, stop, bill" if state in p.FAULTY else ""
        clears = "yes" if state in p.CLEARS_FAULT else ""
        lines.append(f"| `{state}` | {p.MEANING[state]} | {close} | {running} | {clears} |")
    seconds = {
        "rests open before it closes again": c.MIN_OPEN,
        "stays closed after the PWM is withdrawn, the vehicle still in C": c.PWM_WITHDRAWN_GRACE,
        "a vehicle using over 1 A less than offered for this long leaves it to others": (
            c.UNUSED_AFTER
        ),
    }
    lines.append("")
    lines += [f"- {what}: {t.total_seconds():g} s" for what, t in seconds.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(mermaid())
    print()
    print(pilot_rules())
