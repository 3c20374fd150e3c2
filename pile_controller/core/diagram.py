"""The connector state diagram, generated from the transition table itself (Mermaid), and the
control pilot's rules, generated from the sets and timings the core decides by.

`python -m pile_controller.core.diagram` prints both; docs/STATES.md carries the current output
and a test keeps them the same.
"""

from hal import pilot as p
from pile_controller.core import connector as c
from pile_controller.core.connector import TRANSITIONS


def mermaid() -> str:
    lines = ["stateDiagram-v2", "    [*] --> idle"]
    seen: set[tuple[str, str, str]] = set()
    for t in TRANSITIONS:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        guards = [*t.get("conditions", []), *(f"not {u}" for u in t.get("unless", []))]
        guard = " and ".join(guards)
        label = f"{t['trigger']} [{guard}]" if guard else t["trigger"]
        for source in sources:
            edge = (source, t["dest"], label)
            if edge not in seen:
                seen.add(edge)
                lines.append(f"    {source} --> {t['dest']}: {label}")
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
