"""The pulse in the pleth waveform: is it pulsing, flat or absent, and at what rate.

The oximeter's pleth is the one trace that shows a heartbeat reaching the finger, whatever the
ECG says. The rules use it as evidence: a pleth that pulses regularly means there is a pulse (an
ECG rate of 0 is then a lead problem, not asystole); a pleth that is present but flat means no
pulse reaches the finger. Samples are in device units, so "flat" is judged against the pulse
amplitude this trace had while it pulsed, not against a fixed number.

Pure: samples come with the time of their first sample; nothing here reads a clock.
"""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from dataclasses import dataclass, field

# Signal-processing constants (how the trace is read, not alarm limits).
_DECIMATED_HZ = 32.0  # beats are found on a ~32-Hz trace: enough for rates up to 300/min
_QUANTILE = 0.1  # the trace's low and high levels: its 10th and 90th percentiles
_HYSTERESIS = 0.25  # of the amplitude, each side of the mid-level: a beat is one low-to-high swing
_MAX_INTERVAL_CV = 0.2  # beat-to-beat intervals this regular (coefficient of variation) are a pulse
_MIN_BEATS = 3  # intervals needed before a rate is believed
_RATE_RANGE = (24.0, 300.0)  # /min: outside this a periodicity is not a pulse
_FLAT_FRACTION = 0.15  # of the amplitude the trace had while pulsing: below it the trace is flat
_FLAT_S = 2.5  # flatness is judged on the latest seconds: a pulse that stops shows at once
_MIN_COVERAGE = 0.5  # of the window that must have valid samples for the trace to count at all
_READ_EVERY_S = 1.0  # the trace is read again at most this often (chunks come every 0.4 s or so)


@dataclass
class PlethReading:
    """What the trace shows over its window: ``state`` is ``pulsing`` (with ``rate`` /min),
    ``flat`` (valid samples, no pulsation), ``disturbed`` (large but irregular: motion) or
    ``absent`` (no valid samples)."""

    state: str
    rate: float | None = None


@dataclass
class Pleth:
    """The last ``window_s`` of one room's PLETH trace."""

    window_s: float
    _samples: deque[tuple[float, float]] = field(default_factory=deque)  # (t, value), valid only
    _last_t: float | None = None  # time of the latest sample, valid or not
    _pulse_amplitude: float | None = None  # amplitude while last pulsing
    _read_at: float | None = None  # time of the latest sample when the trace was last read
    reading: PlethReading = field(default_factory=lambda: PlethReading("absent"))

    def add(self, t: float, rate: float, samples: list[float | None]) -> PlethReading:
        """Add one chunk of samples, the first at ``t``; returns what the trace now shows."""
        step = 1.0 / rate
        for i, v in enumerate(samples):
            if v is not None:
                self._samples.append((t + i * step, float(v)))
        end = t + len(samples) * step
        self._last_t = end if self._last_t is None else max(self._last_t, end)
        horizon = self._last_t - self.window_s
        while self._samples and self._samples[0][0] < horizon:
            self._samples.popleft()
        if self._read_at is None or not 0 <= self._last_t - self._read_at < _READ_EVERY_S:
            self.reading, self._read_at = self._read(rate), self._last_t
        return self.reading

    def at(self, t: float) -> PlethReading:
        """What the trace shows at ``t``: absent once no sample has come for a window."""
        if self._last_t is None or t - self._last_t > self.window_s:
            return PlethReading("absent")
        return self.reading

    def _read(self, rate: float) -> PlethReading:
        if len(self._samples) < _MIN_COVERAGE * self.window_s * rate:
            return PlethReading("absent")
        block = max(1, round(rate / _DECIMATED_HZ))
        trace = list(self._samples)[::block]
        lo, hi = _levels([v for _, v in trace])
        end = trace[-1][0]
        recent_lo, recent_hi = _levels([v for t, v in trace if t >= end - _FLAT_S])
        pulsed = self._pulse_amplitude
        if pulsed is not None and recent_hi - recent_lo < _FLAT_FRACTION * pulsed:
            return PlethReading("flat")
        beats = self._beats(trace, lo, hi)
        if beats is not None:
            self._pulse_amplitude = hi - lo
            return PlethReading("pulsing", beats)
        if self._pulse_amplitude is None:
            return PlethReading("flat")  # never seen pulsing: nothing here shows a pulse
        return PlethReading("disturbed")

    @staticmethod
    def _beats(trace: list[tuple[float, float]], lo: float, hi: float) -> float | None:
        """The rate of regular low-to-high swings of the trace, or None if there are none."""
        amplitude = hi - lo
        if amplitude <= 0:
            return None
        mid = (lo + hi) / 2
        low, high = mid - _HYSTERESIS * amplitude, mid + _HYSTERESIS * amplitude
        below, rises = False, []
        for t, v in trace:
            if v < low:
                below = True
            elif v > high and below:
                below = False
                rises.append(t)
        intervals = [b - a for a, b in itertools.pairwise(rises)]
        if len(intervals) < _MIN_BEATS:
            return None
        mean = statistics.fmean(intervals)
        if mean <= 0 or statistics.pstdev(intervals) / mean > _MAX_INTERVAL_CV:
            return None
        per_min = 60.0 / mean
        return round(per_min, 1) if _RATE_RANGE[0] <= per_min <= _RATE_RANGE[1] else None


def _levels(values: list[float]) -> tuple[float, float]:
    """The low and high levels of a trace (its 10th and 90th percentiles)."""
    values = sorted(values)
    top = min(len(values) - 1, int(len(values) * (1 - _QUANTILE)))
    return values[int(len(values) * _QUANTILE)], values[top]
