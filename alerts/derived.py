"""Derived signals: what the rules need that no single reading says.

One room's readings arrive as separate messages (numerics, statuses, waveform chunks), possibly
from two monitors interleaved. This module keeps what the rules must know across them, with
time passed in as an argument (it reads no clock), so offline evaluation and the live server
derive exactly the same:

- **no value for how long** per parameter: a parameter that had values and now gives none — a
  ``null`` value, or no value at all for ``stale_s`` — is *blank* since its last value;
- **the best heart rate** (``HRbest`` in the rules): the ECG heart rate when it is there and
  credible, else the oximeter's pulse rate, else the rate of the pleth; an ECG rate of 0 while
  the pulse goes on is not credible (a lead problem), so it gives way to the pulse;
- **heartbeat evidence**: whether anything shows a pulse (a pulse rate above 0, an SpO2 value,
  a pleth that pulses), and whether anything positively shows none (an ECG or pulse rate of 0, a
  flat pleth): asystole needs both no pulse and some positive sign of none;
- the **technical signals** built from these, each watched by a ``signal:`` rule:
  ``vitals_absent`` (V1), ``asystole`` (H4), ``capnogram_lost`` (R3), ``signal_absent`` (T7) and
  ``lead_off`` (T6: the device's lead-off status, or an ECG rate of 0 that the pulse contradicts).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from alerts.pleth import Pleth, PlethReading

VITALS = ("HR", "PR", "SpO2")  # a monitor showing none of these shows nothing of the circulation
CAPNOGRAM = ("EtCO2", "RR")
WATCHED = ("HR", "PR", "SpO2", "RR", "EtCO2")
ALL = frozenset(WATCHED)
# A device status that says why a parameter has no value: that status's own rule speaks for it.
EXPLAINS = {
    "probe_off": {"SpO2", "PR"}, "no_signal": {"SpO2", "PR"}, "pulse_search": {"SpO2", "PR"},
    "low_perfusion": {"SpO2", "PR"}, "lead_off": {"HR"}, "device_lost": ALL, "sensor_fault": ALL,
}
# The signals this module drives (the engine sets them after every input).
SIGNALS = {
    "vitals_absent": "heart rate, pulse rate and SpO2 all give no value",
    "asystole": "no heartbeat: ECG rate 0 or none, and nothing shows a pulse",
    "capnogram_lost": "EtCO2 and respiration rate give no value",
    "signal_absent": "a parameter that had values gives none, with no device status saying why",
    "pulse_search": "the oximeter is searching for a pulse",
}
NAMES = {"HR": "heart rate (ECG)", "PR": "pulse rate", "SpO2": "SpO2", "RR": "respiration rate",
         "EtCO2": "EtCO2"}


class DerivedPolicy(BaseModel):
    """Engineering defaults of the derived signals (``derived:`` in the rules file)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    # A parameter missing from every message for this long has no value (it may be absent from
    # one monitor's messages while another monitor of the room sends it).
    stale_s: float = Field(gt=0)
    # A "no value" gap up to this long keeps a pending condition pending, its onset unchanged.
    blank_tolerance_s: float = Field(ge=0)
    # How much of the pleth is read at once (beats are counted over it).
    pleth_window_s: float = Field(gt=0)


class Derived:
    """The derived signals of one session's readings."""

    def __init__(self, policy: DerivedPolicy) -> None:
        self.policy = policy
        self.last_value: dict[str, float] = {}  # parameter -> time of its latest value
        self.latest: dict[str, float] = {}  # parameter -> its latest value
        self.null_since: dict[str, float] = {}  # parameter -> first "null" after its latest value
        self.codes: set[str] = set()
        self.pleth = Pleth(policy.pleth_window_s)

    # Inputs ------------------------------------------------------------------------------

    def numerics(self, t: float, values: Mapping[str, float | None]) -> None:
        for p in WATCHED:
            if p not in values:
                continue
            v = values[p]
            if v is None:
                if p in self.last_value:
                    self.null_since.setdefault(p, t)
            else:
                self.last_value[p], self.latest[p] = max(t, self.last_value.get(p, t)), float(v)
                self.null_since.pop(p, None)

    def waveform(self, t: float, wave: str, rate: float, samples: list[float | None]) -> None:
        if wave == "PLETH":
            self.pleth.add(t, rate, samples)

    def status(self, code: str, active: bool) -> None:
        if active:
            self.codes.add(code)
        else:
            self.codes.discard(code)

    # What the rules see --------------------------------------------------------------------

    def seen(self, p: str) -> bool:
        return p in self.last_value

    def blank(self, p: str, t: float) -> bool:
        """``p`` had values and has none now (a null since its last value, or none for stale_s)."""
        if p not in self.last_value:
            return False
        return p in self.null_since or t - self.last_value[p] > self.policy.stale_s

    def blank_for(self, p: str, t: float) -> float:
        """Seconds ``p`` has had no value (0 while it has one)."""
        return max(0.0, t - self.last_value[p]) if self.blank(p, t) else 0.0

    def value(self, p: str, t: float) -> float | None:
        """The latest value of ``p``, None while it is blank or was never seen."""
        return None if p not in self.last_value or self.blank(p, t) else self.latest[p]

    def pleth_at(self, t: float) -> PlethReading:
        return self.pleth.at(t)

    def pulse_evidence(self, t: float) -> bool:
        """Something shows a pulse: a pulse rate above 0, an SpO2 value, a pulsing pleth."""
        pr = self.value("PR", t)
        return bool(pr) or self.value("SpO2", t) is not None or self.pleth_at(t).state == "pulsing"

    def ecg_contradicted(self, t: float) -> bool:
        """The ECG says 0 while the pulse goes on: leads or ECG, not the heart."""
        return self.value("HR", t) == 0 and self.pulse_evidence(t)

    def best_heart_rate(self, t: float) -> tuple[float | None, str]:
        """The heart rate the heart-rate rules watch, and where it came from (HR, PR, PLETH).
        None when nothing gives a rate above 0 (asystole is its own rule)."""
        hr = self.value("HR", t)
        if hr:
            return hr, "HR"
        pr = self.value("PR", t)
        if pr:
            return pr, "PR"
        pleth = self.pleth_at(t)
        no_ecg = hr == 0 or self.blank("HR", t) or not self.seen("HR")
        if pleth.state == "pulsing" and no_ecg:
            return pleth.rate, "PLETH"
        if pr == 0 and no_ecg:
            # With no ECG rate, an oximeter's pulse rate of 0 is the only heart rate there is: a
            # pulse of 0 must alarm at least as loudly as a pulse of 35 (H2, high).
            return 0.0, "PR"
        return None, ""

    def levels(self, t: float) -> dict[str, tuple[bool, str]]:
        """Each derived signal at ``t``: on or off, and the detail its alarm text gives."""
        vitals = [p for p in VITALS if self.seen(p)]
        vitals_absent = bool(vitals) and all(self.blank(p, t) for p in vitals)
        capno = self.seen("EtCO2") and all(self.blank(p, t) for p in CAPNOGRAM if self.seen(p))
        # Asystole needs an ECG that shows no beat (a rate of 0, or no value without a lead-off
        # status) and no pulse anywhere; a room without an ECG cannot tell asystole from a lost
        # pulse signal, and its blank monitor is V1's.
        # A monitor gone blank altogether shows no evidence either way: that is V1's.
        hr = self.value("HR", t)
        ecg_silent = hr == 0 or (self.blank("HR", t) and not self._explained("HR"))
        no_beat = hr == 0 or self.value("PR", t) == 0 or self.pleth_at(t).state == "flat"
        asystole = self.seen("HR") and ecg_silent and no_beat and not self.pulse_evidence(t)
        explained = set().union(*(EXPLAINS.get(c, set()) for c in self.codes))
        covered = (set(VITALS) if vitals_absent else set()) | (set(CAPNOGRAM) if capno else set())
        absent = [p for p in WATCHED
                  if self.blank(p, t) and p not in explained and p not in covered]
        lead_off = "lead_off" in self.codes
        contradicted = self.ecg_contradicted(t)
        pr = self.value("PR", t)
        return {
            "vitals_absent": (vitals_absent, "no " + ", ".join(NAMES[p] for p in vitals)),
            "asystole": (asystole, "ECG rate 0" if hr == 0 else "no ECG rate; no pulse"),
            "capnogram_lost": (capno, "no EtCO2 or respiration rate"),
            "signal_absent": (bool(absent), "; ".join(
                f"{NAMES[p]} no value for {self.blank_for(p, t):.0f} s" for p in absent)),
            "lead_off": (lead_off or contradicted,
                         "ECG lead off" if lead_off else
                         f"ECG rate 0 while the pulse goes on (PR {pr:g}): check leads"
                         if pr else "ECG rate 0 while the pleth pulses: check leads"),
            "pulse_search": ("pulse_search" in self.codes, "oximeter searching for a pulse"),
        }

    def _explained(self, p: str) -> bool:
        return any(p in EXPLAINS.get(c, ()) for c in self.codes)
