"""The signal-name map: which parameter or wave a column or signal of another format carries.

One map for every importer (WFDB, CSV, VitalDB), documented in docs/recording-format.md. Names
are compared after ``normalise``: case-insensitive, a unit in brackets or parentheses and a
trailing ``%`` taken off, and spaces, dashes, underscores and dots ignored, so ``HR``,
``hr (bpm)``, ``NBP Sys``, ``NBP_SYS``, ``SpO2 %`` and ``SpO2 [%]`` are all recognised. A
VitalDB device prefix (``Solar8000/HR``) is dropped.

A name is one of:

- a numerics parameter (``numerics``, e.g. HR, PR, SpO2, RR, and the arterial line's ABPsys,
  ABPdia, ABPmean) — in a trend (numerics) record;
- a part of a cuff measurement (``nibp``: sys, dia, map) — sparse, becomes ``nibp`` records;
- a wave (``wave``: ECG_II, PLETH, RESP, ABP, CO2) — in a waveform record;
- known, but with no place in the wire protocol (``unsupported``, with the reason): ECG leads
  other than II. Reported by name, like unknown names.

``RESP`` is the respiration rate in a trend record and the respiration wave in a waveform record.
``SaO2`` (arterial saturation) stands in for SpO2 only when the record has no SpO2 of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMERICS = {
    "hr": "HR", "heartrate": "HR", "ecghr": "HR",
    "pulse": "PR", "pr": "PR", "pulserate": "PR", "plethhr": "PR", "spo2hr": "PR",
    "resp": "RR", "rr": "RR", "resprate": "RR", "respiratoryrate": "RR", "rrco2": "RR", "brth": "RR",
    "spo2": "SpO2", "plethspo2": "SpO2", "sao2": "SpO2",
    "etco2": "EtCO2", "co2et": "EtCO2",
    "pi": "PI", "perfusionindex": "PI",
    "temp": "TEMP", "temperature": "TEMP", "bt": "TEMP",
}
# Lower is preferred when two signals of one record map to the same parameter.
PREFERENCE = {"sao2": 1}

NIBP = {
    "nbpsys": "sys", "nibpsys": "sys", "nbps": "sys", "nibpsbp": "sys", "nbpsbp": "sys", "sbp": "sys",
    "nbpdias": "dia", "nibpdias": "dia", "nbpdia": "dia", "nibpdia": "dia", "nbpd": "dia",
    "nibpdbp": "dia", "nbpdbp": "dia", "dbp": "dia",
    "nbpmean": "map", "nibpmean": "map", "nbpm": "map", "nibpmbp": "map", "nbpmap": "map",
    "nibpmap": "map", "map": "map",
}

WAVES = {
    "ii": "ECG_II", "ecgii": "ECG_II", "ecg2": "ECG_II", "leadii": "ECG_II",
    "pleth": "PLETH", "ppg": "PLETH",
    "resp": "RESP", "respwave": "RESP",
    "abp": "ABP", "art": "ABP",
    "co2": "CO2", "capno": "CO2",
}

# Invasive arterial pressure numerics (protocol version 2): continuous, like HR, not cuff readings.
ARTERIAL = {
    "abpsys": "ABPsys", "abps": "ABPsys", "artsys": "ABPsys", "artsbp": "ABPsys", "ibpsys": "ABPsys",
    "abpdias": "ABPdia", "abpdia": "ABPdia", "abpd": "ABPdia", "artdia": "ABPdia", "artdias": "ABPdia",
    "artdbp": "ABPdia", "ibpdia": "ABPdia",
    "abpmean": "ABPmean", "abpm": "ABPmean", "artmean": "ABPmean", "artmbp": "ABPmean",
    "ibpmean": "ABPmean",
}
ECG_LEADS = {"i", "iii", "avr", "avl", "avf", "v", "v1", "v2", "v3", "v4", "v5", "v6", "mcl", "mcl1",
             "ecgi", "ecgiii", "ecgv", "ecgv5", "ecgavr", "ecgavl", "ecgavf", "ecgmcl1"}

_UNIT = re.compile(r"\s*[\[(]([^\])]*)[\])]\s*$")


def normalise(name: str) -> tuple[str, str]:
    """``(key, unit)``: the name as the maps spell it, and a unit given in the name (or "")."""
    name = name.strip().rsplit("/", 1)[-1]
    unit = ""
    if m := _UNIT.search(name):
        unit, name = m.group(1).strip(), name[:m.start()]
    if name.endswith("%"):
        unit, name = unit or "%", name[:-1]
    return re.sub(r"[\s_.\-]+", "", name).lower(), unit


@dataclass(frozen=True)
class Target:
    kind: str  # numerics | nibp | wave | unsupported | unknown
    name: str = ""  # the parameter, the nibp part or the wave; for the others, why not
    unit: str = ""  # a unit found in the name
    preference: int = 0


def classify(name: str, waveform: bool) -> Target:
    """Where signal ``name`` goes; ``waveform``: it comes from a waveform record (≥ 1 Hz)."""
    key, unit = normalise(name)
    if waveform:
        if key in WAVES:
            return Target("wave", WAVES[key], unit)
        if key in ECG_LEADS:
            return Target("unsupported", "an ECG lead other than II: the protocol carries ECG_II only", unit)
        if key in NUMERICS or key in NIBP:
            return Target("unsupported", "a trend sampled as a waveform", unit)
        return Target("unknown", "not in the signal-name map", unit)
    if key in NUMERICS:
        return Target("numerics", NUMERICS[key], unit, PREFERENCE.get(key, 0))
    if key in NIBP:
        return Target("nibp", NIBP[key], unit)
    if key in ARTERIAL:
        return Target("numerics", ARTERIAL[key], unit)
    if key in WAVES or key in ECG_LEADS:
        return Target("unsupported", "a wave in a trend record", unit)
    return Target("unknown", "not in the signal-name map", unit)
