"""Physiological simulator of ketamine-assisted therapy sessions (docs/simulator.md).

A pure numpy library: no clock, no I/O. ``generate()`` returns a recording (monitors/recording.py)
of a named scenario (clinical-basis §4, or a failure scenario) or of a ``random`` patient, with
ground-truth labels.
The modules, in the order the data flows:

    parameters  every clinical number, with its source (clinical-basis §4, [D] defaults)
    noise       seeded random streams and smooth noise
    patient     baseline draws
    drug        effect curves per route
    scenarios   what happens when: the named scenarios and ``random``
    vitals      true physiology at 1 Hz, every heartbeat and breath
    artifacts   motion, probe off, lead off, cuff leak
    device      what the devices show: numerics, NIBP cycle, status messages
    waveforms   pleth, ECG, respiration and capnogram from the same beats and breaths
    truth       ground-truth labels from the true physiology
    session     all of the above as arrays (``simulate()``)
    records     a session as recording records
    population  the clinical-basis §2 statistics of many ``random`` sessions

``scenarios.SIGNATURE`` names the ground-truth labels each fixed scenario is about (the failure
scenarios hold the alarm system to issue 11's failure classes; bench/alarm_quality.py scores
them).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..recording import Header
from .drug import ROUTES
from .records import header, records
from .scenarios import SCENARIOS
from .session import Session, simulate

__all__ = ["ROUTES", "SCENARIOS", "Session", "generate", "simulate"]


def generate(scenario: str, seed: int, *, minutes: float = 90, waveforms: bool = False,
             start: float = 1_800_000_000.0, pre_dose_minutes: float = 10,
             route: str | None = None) -> tuple[Header, Iterator[dict]]:
    """A simulated recording: its header, and its records lazily in time order.

    The recording covers ``[start, start + minutes * 60)``; the dose is at
    ``start + pre_dose_minutes * 60`` (also ``header.meta["dose_time"]``). Records are plain
    dicts in the recording format: wire messages without ``seq`` (numerics once a second; nibp;
    status; waveform chunks of 0.4 s when ``waveforms``), ``mark`` records and ``truth``
    intervals. ``route`` ("iv", "im", "sublingual", "esketamine") overrides the scenario's
    (IV unless said otherwise). The same arguments give the same records, byte for byte.
    Raises ValueError for an unknown scenario or route or an impossible time argument.
    """
    session = simulate(scenario, seed, minutes=minutes, pre_dose_minutes=pre_dose_minutes,
                       waveforms=waveforms, route=route)
    return header(session, start), records(session, start)
