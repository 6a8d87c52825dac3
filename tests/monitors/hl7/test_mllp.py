"""The MLLP framer: frames found however the bytes are cut, garbage between frames discarded
and counted, oversized frames refused, a missing trailing CR tolerated."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.hl7.mllp import MllpFramer, frame
from tests.conftest import ROOT

MESSAGES = [p.read_bytes() for p in sorted((ROOT / "tests" / "data" / "hl7").glob("valid-*"))]


def feed(framer: MllpFramer, pieces: list[bytes]) -> list[bytes]:
    return [f for piece in pieces for f in framer.receive_data(piece)]


def test_frames_and_garbage() -> None:
    """Two frames with noise before, between and after them: both frames, the noise counted."""
    framer = MllpFramer()
    data = b"noise" + frame(MESSAGES[0]) + b"\r\n" + frame(MESSAGES[1]) + b"tail"
    assert framer.receive_data(data) == MESSAGES[:2]
    assert framer.garbage_bytes == len(b"noise") + 2 + len(b"tail") and framer.frames == 2


def test_missing_trailing_cr_is_tolerated() -> None:
    """A frame ended with <FS> alone is delivered at once; a <CR> that follows later is eaten."""
    framer = MllpFramer()
    assert framer.receive_data(b"\x0b" + MESSAGES[0] + b"\x1c") == [MESSAGES[0]]
    assert framer.receive_data(b"\r" + frame(MESSAGES[1])) == [MESSAGES[1]]
    assert framer.garbage_bytes == 0


def test_unended_frame_then_a_new_one() -> None:
    """A frame cut off by a new start block is discarded and the new frame read."""
    framer = MllpFramer()
    assert framer.receive_data(b"\x0bMSH|broken" + frame(MESSAGES[0])) == [MESSAGES[0]]
    assert framer.garbage_bytes == len(b"\x0bMSH|broken")


def test_oversized_frames_are_discarded() -> None:
    """A frame over the limit is discarded and counted, and the next one still read; so is an
    endless one, without holding more than the limit."""
    framer = MllpFramer(max_frame=100)
    assert framer.receive_data(frame(b"x" * 200) + frame(b"MSH|ok")) == [b"MSH|ok"]
    assert framer.oversized == 1
    framer.receive_data(b"\x0b" + b"y" * 500)
    assert framer.oversized == 2 and len(framer.buffer) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), max_size=8), st.binary(max_size=50))
def test_any_cutting(cuts: list[int], noise: bytes) -> None:
    """However the stream is cut, the same frames come out in order."""
    noise = noise.replace(b"\x0b", b"").replace(b"\x1c", b"")
    data = noise + b"".join(frame(m) for m in MESSAGES) + noise
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert feed(MllpFramer(), pieces) == MESSAGES
