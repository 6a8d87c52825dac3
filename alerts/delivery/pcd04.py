"""The alarm communication manager channel: IHE PCD-04 "Report Alert" (ORU^R40) out, IHE PCD-05
"Report Alert Status" (ORU^R41) in, over MLLP (docs/delivery-pcd04.md).

Theory of operation. vitalwatch is the IHE ACM profile's Alert Reporter; the hospital's alarm
communication manager (the Alert Manager) routes each alarm to phones and pagers.

- Every ``Notice`` becomes one ORU^R40 (``build_r40``, sans I/O, time as an argument). OBR-3
  carries the alarm id, the same in every message about that alarm, so a later message (the
  escalation, the acknowledgement, the end) updates the manager's alarm instead of raising a new
  one; OBR-2 carries the delivery id, which the manager's status messages echo.
- ``Pcd04Sender`` keeps one MLLP connection to the manager and sends one message at a time,
  waiting for its ACK (MLLP's rule: the next message waits for the last one's answer). An ACK is
  matched to its message by MSA-2 = MSH-10; an ACK for an earlier message (one that timed out)
  is counted and skipped. AA/CA: delivered. AE/AR/CE/CR: failed, not retried (the manager read it
  and refused it: sending it again gets the same answer). No answer in time, a refused or lost
  connection: failed, worth retrying; the connection is dropped and opened again on the next send.
- The manager's PCD-05 status messages arrive on a listener of their own (``status_port``): each
  is answered at once with an ACK^R41 and, when it names one of this server's deliveries and a
  state, handed to ``report`` as a ``StatusReport``. ``read_status`` never raises: anything that is
  not such a message is answered AR/AE with the reason, and counted. Only the manager's own
  addresses may connect: MLLP has no authentication, and a forged "accepted" would end an
  escalation.

Nothing here names a patient: PID carries the session number as a visit number, never a name;
the room is the location (PV1-3).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import hl7
from hl7.mllp import InvalidBlockError, open_hl7_connection, start_hl7_server

from alerts.delivery.config import Channels, Pcd04Target
from alerts.delivery.wire import Channel, Notice, Outcome, Sender, State, StatusReport
from monitors.hl7 import mdc, pcd01
from monitors.protocol import UNITS

log = logging.getLogger("vitalwatch.delivery.pcd04")

SEPARATORS: Final = "|^~\\&"
APPLICATION: Final = "vitalwatch"  # MSH-3
PROFILE: Final = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4^ISO"  # MSH-21
MAX_TEXT: Final = 199  # an ST field's length in HL7 v2.6
MAX_STATUS: Final = 64 * 1024  # a status message is a few hundred bytes

# --- The codes (IEEE 11073-10101) -----------------------------------------------------------------

Code = tuple[str, str]  # (code, MDC reference id)

# The facets of an alert (partition 1, MDC_ATTR_*), one OBX each, in the order PCD-04 lists them.
ALERT_SOURCE: Final[Code] = ("68480", "MDC_ATTR_ALERT_SOURCE")
EVENT_PHASE: Final[Code] = ("68481", "MDC_ATTR_EVENT_PHASE")
ALARM_STATE: Final[Code] = ("68482", "MDC_ATTR_ALARM_STATE")
INACTIVATION_STATE: Final[Code] = ("68483", "MDC_ATTR_ALARM_INACTIVATION_STATE")
ALARM_PRIORITY: Final[Code] = ("68484", "MDC_ATTR_ALARM_PRIORITY")
ALERT_TYPE: Final[Code] = ("68485", "MDC_ATTR_ALERT_TYPE")

# Events (partition 3, MDC_EVT_*).
EVT_ALARM: Final[Code] = ("196616", "MDC_EVT_ALARM")  # OBR-4 of every PCD-04; any other alarm
EVT_HIGH: Final[Code] = ("196652", "MDC_EVT_HI_VAL_GT_LIM")
EVT_LOW: Final[Code] = ("196674", "MDC_EVT_LO_VAL_LT_LIM")
# Technical alarms whose condition 11073 names; the others are MDC_EVT_ALARM with their text.
# Keyed by the rules file's rule id (alerts/default-rules.yaml).
TECHNICAL_EVENTS: Final[dict[str, Code]] = {
    "T1": ("196916", "MDC_EVT_SENSOR_DISCONN"),  # SpO2 probe off
    "T6": ("196876", "MDC_EVT_LEAD_DISCONN"),  # ECG lead off
}

PHASES: Final = {"raised": "start", "escalated": "escalate", "reminder": "continue",
                 "acknowledged": "update", "cleared": "end"}
PRIORITIES: Final = {"high": "PH", "medium": "PM", "low": "PL"}
ALERT_KINDS: Final = {"physiological": "SP", "technical": "ST"}


# --- PCD-04: the alarm out ---------------------------------------------------------------------


def _escape(text: str) -> str:
    """Text for a field: the separators escaped, line ends folded (a segment ends with CR)."""
    out = text.replace("\\", "\\E\\")
    for ch, code in (("|", "F"), ("^", "S"), ("~", "R"), ("&", "T")):
        out = out.replace(ch, f"\\{code}\\")
    return out.replace("\r", " ").replace("\n", " ")


def _cwe(code: Code) -> str:
    return f"{code[0]}^{code[1]}^MDC"


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y%m%d%H%M%S+0000")


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


def direction(notice: Notice) -> str:
    """``L`` when the value fell below the limit, ``H`` when it rose above it, "" when the notice
    does not say (no value or limit, or the value at the limit itself)."""
    if notice.value is None or notice.limit is None or notice.value == notice.limit:
        return ""
    return "L" if notice.value < notice.limit else "H"


def event_code(notice: Notice) -> Code:
    """The alarm's event identification (OBX-3 of the first OBX)."""
    if notice.kind == "technical":
        return TECHNICAL_EVENTS.get(notice.rule, EVT_ALARM)
    return {"L": EVT_LOW, "H": EVT_HIGH}.get(direction(notice), EVT_ALARM)


def _unit(param: str) -> Code | None:
    unit = UNITS.get(param)
    if unit is None:
        return None
    return mdc.RESP_RATE_UNIT if param == "RR" else mdc.UNIT_CODES.get(unit[0])


def alarm_text(notice: Notice) -> str:
    """What the manager shows: the alarm's text, marked when the session is not live (a DEMO
    alarm must never look like a real one on a nurse's phone either)."""
    mode = "" if notice.mode == "live" else f"[{notice.mode.upper()}] "
    return (mode + notice.message)[:MAX_TEXT]


def build_r40(notice: Notice, facility: str, now: float, control_id: str) -> str:
    """The ORU^R40 for ``notice`` (docs/delivery-pcd04.md has the field-by-field table); ``now``
    is the message time (MSH-7), ``control_id`` its MSH-10, echoed by the ACK's MSA-2."""
    fac = _escape(facility)
    processing = "P" if notice.mode == "live" else "T"  # a demo or test session is training data
    msh = "|".join(["MSH", SEPARATORS[1:], APPLICATION, fac, "", "", _stamp(now), "",
                    "ORU^R40^ORU_R40", _escape(control_id), processing, "2.6", "", "", "AL", "NE",
                    "", "UNICODE UTF-8", "", "", PROFILE])
    pid = f"PID|||{notice.session_id}^^^{fac}^VN"
    pv1 = f"PV1||U|^{_escape(notice.room)}^^{fac}"
    decided = _stamp(notice.decided_server)
    obr = (f"OBR|1|{notice.delivery_id}^{fac}|{notice.alarm_id}^{fac}|{_cwe(EVT_ALARM)}|||"
           f"{decided}")
    flags = "~".join(f for f in (direction(notice), PRIORITIES[notice.priority],
                                 ALERT_KINDS[notice.kind]) if f)
    sub = "1.1.1.1"  # one synthetic containment: the server, not a device, raised the alarm
    rows: list[list[str]] = [
        ["ST", _cwe(event_code(notice)), _escape(alarm_text(notice)), "", "", flags]]
    code = mdc.PARAM_CODES.get(notice.param or "")
    unit = _unit(notice.param or "")
    if code is not None and notice.value is not None:
        limit = ""
        if notice.limit is not None and direction(notice):
            limit = (">" if direction(notice) == "L" else "<") + _number(notice.limit)
        rows.append(["NM", _cwe(code), _number(notice.value), _cwe(unit) if unit else "", limit, ""])
    else:
        rows.append(["CWE", _cwe(ALERT_SOURCE), _cwe(code or mdc.MONITOR), "", "", ""])
    rows += [
        ["ST", _cwe(EVENT_PHASE), PHASES[notice.event], "", "", ""],
        ["ST", _cwe(ALARM_STATE), "inactive" if notice.event == "cleared" else "active", "", "", ""],
        ["ST", _cwe(INACTIVATION_STATE),
         "alert-acknowledged" if notice.event == "acknowledged" else "enabled", "", "", ""],
        ["ST", _cwe(ALARM_PRIORITY), PRIORITIES[notice.priority], "", "", ""],
        ["ST", _cwe(ALERT_TYPE), ALERT_KINDS[notice.kind], "", "", ""],
    ]
    obx = ["|".join(["OBX", str(i), kind, ident, f"{sub}.{i}", value, units, ref, abnormal, "", "",
                     "F", "", "", decided])
           for i, (kind, ident, value, units, ref, abnormal) in enumerate(rows, 1)]
    return "\r".join([msh, pid, pv1, obr, *obx]) + "\r"


# --- Reading what comes back -------------------------------------------------------------------


def decode(data: bytes) -> str:
    """HL7 text: UTF-8, or ISO 8859-1 (which reads any byte) when it is not valid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _parse(text: str) -> pcd01.Reader | None:
    """A message that begins with MSH, parsed, or None (the library raises many kinds on broken
    text)."""
    text = pcd01.normalise(text)
    if not text.startswith("MSH") or len(text) < 8 or text[3].isalnum() or len(set(text[3:8])) < 5:
        return None
    try:
        message = hl7.parse(text)
        message.segment("MSH")
        return pcd01.Reader(message)
    except Exception:  # noqa: BLE001 - any failure of the library is a message we cannot read
        return None


def _field(r: pcd01.Reader, segment: Any, n: int, component: int = 0) -> str:
    """Field ``n`` of a segment (its first repetition's ``component``), unescaped; "" when
    absent."""
    parts = r.components(segment, n)
    return parts[component] if component < len(parts) else ""


def _segments(r: pcd01.Reader, name: str) -> list[Any]:
    return [s for s in r.message if len(s) and str(s[0]) == name]


@dataclass(frozen=True)
class Ack:
    """A manager's answer to one ORU^R40."""

    code: str  # MSA-1
    control_id: str  # MSA-2: the MSH-10 it answers
    detail: str  # MSA-3 and the ERR segments' texts


def parse_ack(data: bytes) -> Ack | None:
    """The ACK in ``data``, or None when it is not an HL7 message with an MSA segment."""
    r = _parse(decode(data))
    if r is None:
        return None
    msa = _segments(r, "MSA")
    if not msa:
        return None
    texts = [_field(r, msa[0], 3)]
    for err in _segments(r, "ERR"):
        texts.append(_field(r, err, 8) or _field(r, err, 3, 1))  # the text, else the code's name
    detail = "; ".join(dict.fromkeys(t for t in texts if t.strip()))
    return Ack(_field(r, msa[0], 1).upper(), _field(r, msa[0], 2), detail[:MAX_TEXT])


def outcome(ack: Ack) -> Outcome:
    """What the manager's answer means for the delivery."""
    if ack.code in ("AA", "CA"):
        return Outcome(state=State.delivered, detail=ack.code)
    return Outcome(state=State.failed, detail=f"{ack.code or 'no MSA-1'}: "
                   f"{ack.detail or 'the manager gave no reason'}"[:MAX_TEXT], retry=False)


# --- PCD-05: the manager's status in ------------------------------------------------------------

# The first word of a status (OBX-5, compared without case) -> the delivery's state. Managers
# word it their own way ("Delivered to endpoint", "read", "Accepted by user"); "received",
# "queued" and the like say only that the manager has it, which its ACK already said.
STATUS_WORDS: Final[dict[str, State | None]] = {
    "delivered": State.delivered,
    "read": State.seen, "seen": State.seen, "viewed": State.seen, "displayed": State.seen,
    "accepted": State.acknowledged, "acknowledged": State.acknowledged,
    "rejected": State.failed, "declined": State.failed, "undeliverable": State.failed,
    "undelivered": State.failed, "failed": State.failed, "cancelled": State.failed,
    "canceled": State.failed, "expired": State.failed,
    "received": None, "queued": None, "sent": None, "dispatched": None, "forwarded": None,
}


@dataclass
class StatusRead:
    """One status message read: the report (if it moves a delivery), the answer to give."""

    report: StatusReport | None = None
    verdict: pcd01.Verdict = "AA"
    reason: str = ""
    parsed: pcd01.Parsed = field(default_factory=pcd01.Parsed)  # what the ACK is built from


def _refuse(out: StatusRead, verdict: pcd01.Verdict, reason: str, segment: str = "MSH",
            n: int = 0, code: str = "207") -> StatusRead:
    out.verdict, out.reason, out.report = verdict, reason[:MAX_TEXT], None
    out.parsed.verdict, out.parsed.reason = verdict, out.reason
    out.parsed.problems = [pcd01.Problem(segment, 1, n, out.reason, code)]
    return out


def read_status(text: str, now: float, facility: str = "") -> StatusRead:
    """Read one PCD-05 message (``now``: when it arrived, on the server's clock). ``facility``:
    this server's MSH-4, which OBR-2 names after the delivery id; a status whose OBR-2 names
    another is refused (it answers some other system's alarm). Never raises."""
    out = StatusRead()
    try:
        _read_status(text, now, facility, out)
    except Exception as e:  # noqa: BLE001 - a bug must cost one message an AR, never the listener
        _refuse(out, "AR", f"the message could not be processed ({type(e).__name__})")
    return out


def _read_status(text: str, now: float, facility: str, out: StatusRead) -> None:
    r = _parse(text)
    if r is None:
        _refuse(out, "AR", "not an HL7 v2 message: it does not begin with a readable MSH segment")
        return
    msh = r.message.segment("MSH")
    # What the ACK's MSH needs, raw, in the message's own separators.
    out.parsed.msh = {"separators": pcd01.normalise(text)[3:8], "sending_app": r.raw(msh, 3),
                      "sending_fac": r.raw(msh, 4), "version": _field(r, msh, 12),
                      "processing": _field(r, msh, 11)}
    out.parsed.control_id = _field(r, msh, 10)
    kind = (_field(r, msh, 9), _field(r, msh, 9, 1))
    if kind != ("ORU", "R41"):
        shown = "^".join(k for k in kind if k) or "none"
        _refuse(out, "AR", f"MSH-9: message type {shown} is not a PCD-05 status (ORU^R41)",
                "MSH", 9, "200")
        return
    obr = _segments(r, "OBR")
    placer = _field(r, obr[0], 2) if obr else ""
    if not placer.isdigit() or int(placer) < 1:
        _refuse(out, "AE", f"OBR-2: {placer[:20]!r} is not a delivery id of this server (the "
                "placer order number of the ORU^R40 it answers)", "OBR", 2, "101")
        return
    namespace = _field(r, obr[0], 2, 1)
    if facility and namespace and namespace != facility:
        _refuse(out, "AE", f"OBR-2: delivery {placer} of {namespace[:20]!r}, not of this server "
                f"({facility})", "OBR", 2, "204")
        return
    state: State | None = None
    status = by = ""
    known = False
    obx_seen = 0
    for obx in _segments(r, "OBX"):
        obx_seen += 1
        value = _field(r, obx, 5).strip()
        word = value.lower().replace("-", " ").replace("_", " ").split(" ", 1)[0]
        if word in STATUS_WORDS:
            state, status, known = STATUS_WORDS[word], value, True
            by = _person(r, obx) or _person_of(r) or _field(r, obx, 18)
            break
    if not known:
        _refuse(out, "AE", "OBX-5: no dissemination status this server knows (delivered, read, "
                f"accepted, rejected, undeliverable …) in {obx_seen} OBX segment(s)", "OBX", 5, "103")
        return
    if state is None:
        return  # the manager has it: nothing moves
    detail = status if state is State.failed else ""
    out.report = StatusReport(delivery_id=int(placer), state=state, t_server=now,
                              by=by.strip()[:64], detail=detail[:MAX_TEXT])


def _person(r: pcd01.Reader, obx: Any) -> str:
    """OBX-16 (responsible observer, XCN): the id, else given and family name."""
    ident = _field(r, obx, 16).strip()
    if ident:
        return ident
    return f"{_field(r, obx, 16, 2)} {_field(r, obx, 16, 1)}".strip()


def _person_of(r: pcd01.Reader) -> str:
    """A PRT segment's person (PRT-5, XCN), the HL7 v2.7+ place for who acted."""
    for prt in _segments(r, "PRT"):
        ident = _field(r, prt, 5).strip() or f"{_field(r, prt, 5, 2)} {_field(r, prt, 5, 1)}".strip()
        if ident:
            return ident
    return ""


def parse_status(message: str | bytes, now: float,
                 counts: Counter[str] | None = None) -> StatusReport | None:
    """The ``StatusReport`` a PCD-05 message gives, or None (not one, or one that moves nothing);
    never raises. ``counts`` (if given) counts each verdict, and each message that gave nothing."""
    text = decode(message) if isinstance(message, bytes) else message
    read = read_status(text, now)
    if counts is not None:
        counts[read.verdict] += 1
        if read.report is None:
            counts["no_report"] += 1
    return read.report


def status_ack(read: StatusRead, control_id: str, now: float, facility: str) -> bytes:
    """The ACK^R41 for a status message read (MSA-2 echoes its MSH-10)."""
    read.parsed.verdict, read.parsed.reason = read.verdict, read.reason
    text = pcd01.acknowledgement(read.parsed, control_id, datetime.fromtimestamp(now, UTC),
                                 application=APPLICATION, event="R41")
    if facility:  # MSH-4: who answers
        head, _, rest = text.partition("\r")
        fields = head.split("|")
        fields[3] = _escape(facility)
        text = "|".join(fields) + "\r" + rest
    return text.encode("utf-8")


# --- The sender --------------------------------------------------------------------------------


class Pcd04Sender:
    """One alarm manager: ``send`` writes an ORU^R40 on the one MLLP connection and waits for its
    ACK; ``start`` opens the PCD-05 status listener (``status_port`` 0: a free port, exposed as
    ``status_port`` once started). ``send`` never raises; ``close`` closes both sides."""

    channel = Channel.pcd04

    def __init__(self, target: Pcd04Target, timeout_s: float,
                 report: Callable[[StatusReport], None], *, status_host: str = "0.0.0.0",
                 status_from: list[str] | None = None, tls: ssl.SSLContext | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        """``status_host``: the address the status listener binds; ``status_from``: the
        addresses it takes status messages from (None: those the manager's host name resolves
        to); ``tls``: the TLS context when the target says ``tls`` (None: the system's CAs)."""
        self.target, self.timeout_s, self.report, self.clock = target, timeout_s, report, clock
        self.status_host, self.status_from = status_host, status_from
        self.destination = f"pcd04 {target.host}:{target.port}"
        self.status_port: int | None = target.status_port
        self.counts: Counter[str] = Counter()
        self._lock = asyncio.Lock()
        self._reader: Any = None
        self._writer: Any = None
        self._numbers = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._peers: set[Any] = set()
        self._tls = (tls or ssl.create_default_context()) if target.tls else None
        self._allowed: set[str] = set()
        self._waiting = ""  # what a send that times out was waiting for

    # -- sending -----------------------------------------------------------------------------

    async def send(self, notice: Notice) -> Outcome:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            # Not wait_for: on Python 3.11 a cancelled wait_for can leave the lock taken.
            async with asyncio.timeout_at(deadline):
                await self._lock.acquire()
        except TimeoutError:
            self.counts["busy"] += 1
            return Outcome(state=State.failed, retry=True, detail=(
                f"{self.destination}: an earlier message still waited for its ACK after "
                f"{self.timeout_s:g} s"))
        try:
            async with asyncio.timeout_at(deadline):
                result = await self._exchange(notice)
        except TimeoutError:
            self._drop()  # its late ACK must not be read as the next message's
            self.counts["timeout"] += 1
            result = Outcome(state=State.failed, retry=True, detail=(
                f"{self.destination}: no ACK within {self.timeout_s:g} s (still waiting "
                f"{self._waiting})"))
        except asyncio.CancelledError:
            self._drop()  # the caller gave up mid-message: the connection's state is unknown
            raise
        finally:
            self._lock.release()
        self.counts[result.state.value] += 1
        if result.state is State.failed:
            log.warning("alarm %d (delivery %d) to %s: %s", notice.alarm_id, notice.delivery_id,
                        self.destination, result.detail)
        return result

    async def probe(self) -> Outcome:
        """Whether the manager can be reached now, between alarms: the connection is opened if
        it is not open (a manager that went away closed it), so that a lost manager is a
        technical alarm within the rules' ``probe_s``, not at the next alarm. ``delivered``:
        reachable; ``failed``: not; ``sent``: no news (a send under way answers for the link)."""
        if self._lock.locked():
            return Outcome(state=State.sent, detail="a send is under way")
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._lock:
                    await self._connect()
        except (OSError, TimeoutError) as e:
            self._drop()
            self.counts["probe_failed"] += 1
            return Outcome(state=State.failed, retry=True,
                           detail=f"{self.destination}: unreachable: {e or type(e).__name__}")
        return Outcome(state=State.delivered, detail="reachable")

    async def _connect(self) -> bool:
        """Open the connection unless it is open; True when it was opened now."""
        if (self._writer is not None and not self._writer.is_closing()
                and not self._reader.at_eof()):
            return False
        self._drop()
        self._reader, self._writer = await open_hl7_connection(
            self.target.host, self.target.port, ssl=self._tls,
            server_hostname=self.target.host if self._tls else None)
        self.counts["connections"] += 1
        return True

    async def _exchange(self, notice: Notice) -> Outcome:
        control_id = f"{notice.delivery_id}.{next(self._numbers)}"
        data = build_r40(notice, self.target.facility, self.clock(), control_id).encode("utf-8")
        for attempt in (1, 2):
            self._waiting = "to connect"
            try:
                fresh = await self._connect()
            except ssl.SSLCertVerificationError as e:
                # Not worth a retry: the next attempt meets the same certificate.
                return Outcome(state=State.failed, retry=False,
                               detail=f"{self.destination}: TLS: {e.verify_message}"[:MAX_TEXT])
            except (OSError, ssl.SSLError) as e:
                return Outcome(state=State.failed, retry=True,
                               detail=f"{self.destination}: cannot connect: {e}"[:MAX_TEXT])
            try:
                self._waiting = "to send"
                self._writer.writeblock(data)
                await self._writer.drain()
                self._waiting = "for the ACK"
                return await self._answer(control_id)
            except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError) as e:
                # The manager closed the connection (it restarted, or an idle timeout): a
                # connection that had been idle is tried once more, freshly opened.
                self._drop()
                if fresh or attempt == 2:
                    return Outcome(state=State.failed, retry=True, detail=(
                        f"{self.destination}: connection lost before the ACK "
                        f"({type(e).__name__})"))
                self.counts["reconnects"] += 1
        raise AssertionError("unreachable")

    async def _answer(self, control_id: str) -> Outcome:
        while True:
            try:
                block = await self._reader.readblock()
            except InvalidBlockError:
                self.counts["garbage"] += 1
                continue
            ack = parse_ack(block)
            if ack is None:
                self.counts["garbage"] += 1
                log.warning("%s: an answer that is not an HL7 ACK was skipped", self.destination)
                continue
            if ack.control_id != control_id:
                self.counts["stale_acks"] += 1  # the answer to a message that timed out
                continue
            return outcome(ack)

    def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    # -- the status listener -----------------------------------------------------------------

    async def start(self) -> None:
        """Open the status listener, if the target has a status port."""
        if self.target.status_port is None or self._server is not None:
            return
        if self.status_from is not None:
            self._allowed = set(self.status_from)
        else:
            # MLLP has no authentication, and a status can stop an escalation ("accepted"):
            # only the manager's own addresses may send one.
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(self.target.host, None)
            except OSError as e:
                raise OSError(f"{self.destination}: cannot resolve {self.target.host} to know "
                              f"whom to take status messages from: {e}") from None
            self._allowed = {str(info[4][0]) for info in infos}
        self._server = await start_hl7_server(self._status_connection, self.status_host,
                                              self.target.status_port, limit=MAX_STATUS)
        self.status_port = int(self._server.sockets[0].getsockname()[1])
        log.info("%s: status (PCD-05) listener on %s:%d", self.destination, self.status_host,
                 self.status_port)

    def receive_status(self, data: bytes | None, problem: str = "") -> bytes:
        """The whole of one status message's handling without the socket: the report made,
        the ACK returned (``data`` None: bytes that were no frame, ``problem`` says why)."""
        now = self.clock()
        if data is None:
            read = _refuse(StatusRead(), "AR", problem or "not an MLLP frame")
        else:
            read = read_status(decode(data), now, self.target.facility)
        if read.report is not None:
            try:
                self.report(read.report)
            except Exception:  # told to the manager as AE; the listener goes on
                log.exception("%s: status for delivery %d could not be recorded",
                              self.destination, read.report.delivery_id)
                _refuse(read, "AE", "the status could not be recorded by the server")
        self.counts[f"status_{read.verdict}"] += 1
        if read.verdict != "AA":
            log.warning("%s: status message %r: %s %s", self.destination,
                        read.parsed.control_id[:40], read.verdict, read.reason)
        return status_ack(read, f"VWS{next(self._numbers)}", now, self.target.facility)

    async def _status_connection(self, reader: Any, writer: Any) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]).removeprefix("::ffff:") if peer else ""  # IPv4 on an IPv6 socket
        if address not in self._allowed:
            self.counts["status_refused_peers"] += 1
            log.warning("%s: status connection from %s refused: not the manager (%s)",
                        self.destination, peer, ", ".join(sorted(self._allowed)))
            writer.close()
            return
        self._peers.add(writer)
        try:
            while True:
                block: bytes | None = None
                try:
                    block = await reader.readblock()
                    problem = ""
                except InvalidBlockError:
                    problem = "not an MLLP frame (no <VT> start block)"
                except ValueError:  # the library cleared what it held
                    problem = f"an MLLP frame over {MAX_STATUS} bytes"
                writer.writeblock(self.receive_status(block, problem))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # the manager closed the connection
        finally:
            self._peers.discard(writer)
            writer.close()

    async def close(self) -> None:
        self._drop()
        if self._server is not None:
            self._server.close()
        for writer in list(self._peers):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None


def senders(channels: Channels, timeout_s: float,
            report: Callable[[StatusReport], None]) -> list[Pcd04Sender]:
    """One sender per alarm manager of the channels file (``start`` each before sending)."""
    return [Pcd04Sender(target, timeout_s, report) for target in channels.pcd04]


def _is_a_sender(sender: Pcd04Sender) -> Sender:
    """Never called: mypy checks here that the class is a ``wire.Sender``."""
    return sender
