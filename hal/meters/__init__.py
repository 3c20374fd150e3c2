"""Meter models as data: one TOML profile per model in this folder (see issue 3).

`sim` is the simulated meter of hal/sim.py; every other model is a profile file here.
"""

from importlib import resources


def known_models() -> set[str]:
    profiles = resources.files(__name__).iterdir()
    return {"sim"} | {p.name.removesuffix(".toml") for p in profiles if p.name.endswith(".toml")}
