"""Import progress: a bar on a terminal, plain lines at most once a second elsewhere (a log
gets no control characters), and the bar gone before the summary."""

from __future__ import annotations

import io
import time

from monitors.importers.report import Report


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_on_a_terminal() -> None:
    """On a terminal, progress is a tqdm bar with the percentage and the detail, closed before
    the summary is written."""
    err = Terminal()
    report = Report(err=err, what="import wfdb")
    report.progress(1, 4, "segment 1 of 4")
    report.progress(3, 4, "segment 3 of 4")
    report.summary(10, "out.jsonl")
    text = err.getvalue()
    assert "vitalwatch import wfdb:  75%|" in text and "segment 3 of 4" in text
    assert text.rstrip().endswith("wrote 10 records to out.jsonl")
    assert report._bar is None


def test_lines_elsewhere() -> None:
    """Not on a terminal: no bar, a plain progress line at most once a second."""
    err = io.StringIO()
    report = Report(err=err, what="import wfdb")
    report.progress(0, 4)
    report.progress(1, 4)  # within the first second: nothing
    assert err.getvalue() == ""
    report._progress_at = time.monotonic() - 1.5
    report.progress(2, 4, "segment 2 of 4")
    assert err.getvalue() == "vitalwatch import wfdb:  50 % — segment 2 of 4\n"
