"""The connector state diagram, generated from the transition table itself (Mermaid).

`python -m pile_controller.core.diagram` prints it; docs/STATES.md carries the current output
and a test keeps the two the same.
"""

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


if __name__ == "__main__":
    print(mermaid())
