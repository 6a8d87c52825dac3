"""IHE PCD-01 (ORU^R01) messages, sans I/O: a message's text in, wire messages and the
acknowledgement out. ``parse`` never raises: whatever it is given becomes an ``AA`` (every reading
taken), an ``AE`` (taken except the segments named in ``problems``) or an ``AR`` (nothing
taken, ``reason`` says why).

What is read (docs/hl7.md has the whole mapping):

- MSH-9 must be ``ORU^R01``; MSH-10 is echoed in the acknowledgement's MSA-2.
- The equipment id is the first OBX-18 (``EUI-64`` id of the device), or else MSH-3's
  universal id (a gateway that names itself).
- Each OBX with a value: OBX-3 the MDC code (``mdc.CODES``), OBX-5 the value (``NM``; ``SN``
  without a comparator), OBX-6 the unit, OBX-11 the result status (``X``: the device has no
  value; ``D``/``W``: withdrawn, not carried), OBX-14 the observation time.
- Times are the device's: OBX-14, else the time of the OBX it belongs to (its sub-id in OBX-4
  is a prefix of this one's), else OBR-7 of its group, else MSH-7. A message with OBX segments
  and no OBR (some gateways send them bare) is read the same way.
- Codes not in the table are counted per code in ``unknown``; codes the table knows but the wire
  protocol has no place for are counted in ``not_carried``: nothing is dropped unseen.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import hl7
from pydantic import ValidationError

from monitors.hl7 import mdc
from monitors.protocol import UNITS, monitor_message, to_canonical

Verdict = Literal["AA", "AE", "AR"]
NIBP_UNITS = {"sys": "SBP", "dia": "DBP", "map": "MAP"}  # keys of protocol.UNITS
# A message's readings are validated with the protocol's own models; this stands in for the
# time of readings whose message gives none (the listener stamps them with the receive time).
_PLACEHOLDER_T = 1_000_000_000.0
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$")


@dataclass(frozen=True)
class Problem:
    """A segment's field that could not be taken: where (for ERR-2) and why."""

    segment: str
    index: int  # which occurrence of the segment in the message, from 1
    field: int
    text: str
    code: str = "207"  # HL7 table 0357: 101 required field missing, 102 data type error,
    # 103 table value not found, 200 unsupported message type, 207 application internal error

    def __str__(self) -> str:
        return f"{self.segment}[{self.index}]-{self.field}: {self.text}"


@dataclass
class Parsed:
    verdict: Verdict = "AA"
    reason: str = ""  # why AR; for AE a summary of the problems
    control_id: str = ""
    equipment: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)  # wire messages without seq;
    # "t" is None for readings whose message names no time at all
    problems: list[Problem] = field(default_factory=list)
    unknown: Counter[str] = field(default_factory=Counter)  # "code name" -> OBX count
    not_carried: Counter[str] = field(default_factory=Counter)  # "code name: why" -> OBX count
    duplicates: Counter[str] = field(default_factory=Counter)  # param -> repeats at one time
    msh: dict[str, str] = field(default_factory=dict)  # what the ACK's MSH needs, raw


def parse_time(text: str, tz: timezone | None = None) -> float:
    """An HL7 DTM (``YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]``) as epoch seconds. Without an
    offset the time is in ``tz``, or the local zone. Raises ValueError saying why not."""
    m = _DTM.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not an HL7 time (YYYYMMDDHHMMSS[.S][+/-ZZZZ])")
    year, month, day, hour, minute, second, frac, offset = m.groups()
    try:
        dt = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                      int(second or 0))
    except ValueError as e:
        raise ValueError(f"{text!r} is not a valid time: {e}") from None
    if offset:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[3:5])
        if hours > 14 or minutes > 59:
            raise ValueError(f"{text!r} has an impossible UTC offset {offset}")
        dt = dt.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
    elif tz is not None:
        dt = dt.replace(tzinfo=tz)
    try:
        t = dt.timestamp()  # a naive time is local time here
    except (OverflowError, OSError, ValueError) as e:
        raise ValueError(f"{text!r} is out of range: {e}") from None
    return t + (float(frac) if frac else 0.0)


class Reader:
    """Fields of one parsed message, as unescaped text; absent fields are ""."""

    def __init__(self, message: hl7.Message) -> None:
        self.message = message
        seps = message.separators
        self.rep, self.comp = seps[2], seps[3]

    def raw(self, segment: Any, n: int) -> str:
        return str(segment[n]) if n < len(segment) else ""

    def components(self, segment: Any, n: int, repetition: int = 0) -> list[str]:
        reps = self.raw(segment, n).split(self.rep)
        if repetition >= len(reps):
            return [""]
        return [self.unescape(c) for c in reps[repetition].split(self.comp)]

    def text(self, segment: Any, n: int) -> str:
        return self.components(segment, n)[0]

    def unescape(self, text: str) -> str:
        try:
            return str(self.message.unescape(text))
        except Exception:  # noqa: BLE001 - a broken escape sequence is taken as written
            return text


def normalise(text: str) -> str:
    """Segments separated by CR, as HL7 says; senders that use LF or CRLF are read the same."""
    return text.replace("\r\n", "\r").replace("\n", "\r").strip("\r \t\x00")


def parse(text: str, tz: timezone | None = None) -> Parsed:
    """Read one message (see the module docstring). Never raises."""
    out = Parsed()
    try:
        _parse(normalise(text), tz, out)
    except Exception as e:  # noqa: BLE001 - a bug must cost one message an AR, never the listener
        out.verdict, out.messages = "AR", []
        out.reason = f"the message could not be processed ({type(e).__name__}: {e})"[:200]
    else:
        if out.verdict == "AA" and out.problems:
            out.verdict = "AE"
            n = len(out.problems)
            out.reason = (f"{n} field{'s' if n > 1 else ''} not taken: " +
                          "; ".join(map(str, out.problems[:3])) + (" …" if n > 3 else ""))[:200]
    return out


def _reject(out: Parsed, reason: str, problem: Problem | None = None) -> None:
    out.verdict, out.reason, out.messages = "AR", reason[:200], []
    if problem is not None:
        out.problems.append(problem)


def _parse(text: str, tz: timezone | None, out: Parsed) -> None:
    if not text.startswith("MSH") or len(text) < 8:
        _reject(out, "not an HL7 v2 message: it does not begin with an MSH segment")
        return
    if text[3].isalnum() or len(set(text[3:8])) < 5:
        _reject(out, "MSH-1/MSH-2: the field separator and encoding characters are missing or repeat")
        return
    try:
        message = hl7.parse(text)
        msh = message.segment("MSH")
    except Exception as e:  # noqa: BLE001 - the library raises many kinds on broken text
        _reject(out, f"not a readable HL7 v2 message ({type(e).__name__}: {e})")
        return
    r = Reader(message)
    out.msh = {"separators": text[3:8], "sending_app": r.raw(msh, 3), "sending_fac": r.raw(msh, 4),
               "version": r.text(msh, 12), "processing": r.text(msh, 11)}
    out.control_id = r.text(msh, 10)
    kind = r.components(msh, 9)
    if kind[:2] != ["ORU", "R01"]:
        shown = "^".join(kind[:2]) or "none"
        _reject(out, f"MSH-9: message type {shown} is not supported (PCD-01 sends ORU^R01)",
                Problem("MSH", 1, 9, f"message type {shown} is not supported", "200"))
        return
    if not out.control_id:
        out.problems.append(Problem("MSH", 1, 10, "the message control id is missing", "101"))
    msh_t = _time(r, msh, 7, "MSH", 1, tz, out)

    segments = list(message)
    occurrence: Counter[str] = Counter()
    group_t: float | None = None  # the current OBR's observation time
    group = 0
    parents: dict[str, float | None] = {}  # OBX-4 sub-id -> its time, within the group
    numerics: dict[float | None, dict[str, float | None]] = {}
    numerics_at: dict[float | None, int] = {}  # time -> its first OBX, for a problem's location
    nibp: dict[tuple[int, str | float | None], dict[str, tuple[float | None, int]]] = {}
    nibp_t: dict[tuple[int, str | float | None], float | None] = {}
    equipment = ""
    for segment in segments:
        name = str(segment[0]) if len(segment) else ""
        occurrence[name] += 1
        index = occurrence[name]
        if name == "OBR":
            group += 1
            group_t = _time(r, segment, 7, "OBR", index, tz, out)
            parents = {}
            continue
        if name != "OBX":
            continue
        if not equipment:
            equipment = _equipment(r, segment)
        sub_id = r.text(segment, 4)
        own_t = _time(r, segment, 14, "OBX", index, tz, out)
        t = own_t if own_t is not None else _parent_time(parents, sub_id)
        if t is None:
            t = group_t if group_t is not None else msh_t
        if sub_id:
            parents[sub_id] = t
        code_parts = r.components(segment, 3)
        code, code_name = code_parts[0].strip(), (code_parts[1] if len(code_parts) > 1 else "").strip()
        value_type, value_text = r.text(segment, 2).strip(), r.raw(segment, 5).strip()
        if not value_type and not value_text:
            continue  # a device, channel or group row: it carries times and ids, not a value
        label = f"{code} {code_name}".strip() or "(no code)"
        known = mdc.CODES.get(code)
        if known is None:
            out.unknown[label] += 1
            continue
        if known.kind == "known":
            out.not_carried[f"{label}: {known.name}"] += 1
            continue
        status = r.text(segment, 11).strip().upper()
        if status in ("D", "W"):
            out.not_carried[f"{label}: result status {status} (withdrawn)"] += 1
            continue
        param = known.name if known.kind == "numeric" else NIBP_UNITS[known.name]
        value = _value(r, segment, index, param, value_type, status, out)
        if value is False:
            continue
        if known.kind == "numeric":
            values = numerics.setdefault(t, {})
            if param in values:
                out.duplicates[param] += 1  # a value repeated per channel: the first stands
                continue
            values[param] = value
            numerics_at.setdefault(t, index)
        else:
            # One cuff measurement is the sys/dia/mean rows under one NIBP row (sub-ids 1.0.1.1
            # to 1.0.1.3 under 1.0.1): it is placed at that row's time, and its rows may carry
            # their own (a few seconds apart) without splitting it.
            parent = sub_id.rpartition(".")[0] if "." in sub_id else None
            key = (group, parent if parent is not None else t)
            if key not in nibp_t:
                nibp_t[key] = parents.get(parent, t) if parent is not None else t
            parts = nibp.setdefault(key, {})
            if known.name in parts:
                out.duplicates[param] += 1
                continue
            parts[known.name] = (value, index)
    out.equipment = equipment or _sender_id(r, msh)
    for t, values in numerics.items():
        _add(out, {"type": "numerics", "t": t, "values": {
            p: {"value": v, "unit": UNITS[p][0]} for p, v in values.items()}}, "OBX", numerics_at[t], 5)
    for key, parts in nibp.items():
        t = nibp_t[key]
        got = {k: v for k, (v, _) in parts.items()}
        last = max(i for _, i in parts.values())
        if all(v is None for v in got.values()):
            msg = {"type": "nibp", "t": t, "status": "failed",
                   "reason": "the device reported no value (OBX-11 X or an empty OBX-5)"}
        else:
            msg = {"type": "nibp", "t": t, "status": "ok", **got}
        _add(out, msg, "OBX", last, 5)


def _add(out: Parsed, msg: dict[str, Any], segment: str, index: int, field_no: int) -> None:
    """Keep ``msg`` if the wire protocol takes it; else say why, as a problem."""
    try:
        monitor_message.validate_python({**msg, "seq": 1, "t": msg["t"] or _PLACEHOLDER_T})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"][1:])
        why = err["msg"].removeprefix("Value error, ")
        out.problems.append(Problem(segment, index, field_no if where != "t" else 14,
                                    f"{where}: {why}" if where else why, "207"))
        return
    out.messages.append(msg)


def _value(r: Reader, segment: Any, index: int, param: str, value_type: str, status: str,
           out: Parsed) -> float | None | bool:
    """The OBX's value in the canonical unit, None for "no value", False if it cannot be taken
    (a problem is recorded)."""
    if status == "X":
        return None
    parts = r.components(segment, 5)
    if value_type == "SN":  # structured numeric: comparator ^ number
        if parts[0] not in ("", "="):
            out.problems.append(Problem("OBX", index, 5, f"{param}: a value with comparator "
                                        f"{parts[0]!r} is not a reading", "102"))
            return False
        text = parts[1] if len(parts) > 1 else ""
    elif value_type in ("NM", ""):
        text = parts[0]
    else:
        out.problems.append(Problem("OBX", index, 2, f"{param}: value type {value_type!r} is not "
                                    f"numeric (NM or SN)", "102"))
        return False
    text = text.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        out.problems.append(Problem("OBX", index, 5, f"{param}: {text[:20]!r} is not a number", "102"))
        return False
    unit_parts = r.components(segment, 6)
    unit = mdc.unit(unit_parts) if any(p.strip() for p in unit_parts) else UNITS[param][0]
    if unit is None:
        shown = "^".join(unit_parts)[:40]
        out.problems.append(Problem("OBX", index, 6, f"{param}: unit {shown!r} is not known", "103"))
        return False
    try:
        return to_canonical(param, number, unit)
    except ValueError as e:
        out.problems.append(Problem("OBX", index, 5 if "unit" not in str(e) else 6, str(e), "207"))
        return False


def _time(r: Reader, segment: Any, n: int, name: str, index: int, tz: timezone | None,
          out: Parsed) -> float | None:
    text = r.text(segment, n).strip()
    if not text:
        return None
    try:
        return parse_time(text, tz)
    except ValueError as e:
        out.problems.append(Problem(name, index, n, str(e), "102"))
        return None


def _parent_time(parents: dict[str, float | None], sub_id: str) -> float | None:
    """The time of the nearest OBX whose sub-id is a prefix of ``sub_id`` (1.0.1 for 1.0.1.2)."""
    parts = sub_id.split(".")
    for k in range(len(parts) - 1, 0, -1):
        t = parents.get(".".join(parts[:k]))
        if t is not None:
            return t
    return None


def _equipment(r: Reader, segment: Any) -> str:
    """OBX-18's device id: the universal id when the EI says EUI-64 in its 4th component, else
    the entity id (``0123456789ABCDEF^EUI-64``)."""
    parts = r.components(segment, 18) + ["", "", "", ""]
    if parts[3].strip() and parts[2].strip():
        return parts[2].strip()
    return parts[0].strip()


def _sender_id(r: Reader, msh: Any) -> str:
    """MSH-3 (HD: namespace ^ universal id ^ type): the universal id, else the namespace."""
    parts = r.components(msh, 3) + ["", ""]
    return parts[1].strip() or parts[0].strip()


# --- The acknowledgement --------------------------------------------------------------------------


def _escape(text: str, seps: str) -> str:
    field_sep, comp, rep, esc, sub = seps[0], seps[1], seps[2], seps[3], seps[4]
    out = text.replace(esc, f"{esc}E{esc}")
    for ch, code in ((field_sep, "F"), (comp, "S"), (rep, "R"), (sub, "T")):
        out = out.replace(ch, f"{esc}{code}{esc}")
    return out.replace("\r", " ").replace("\n", " ")


def acknowledgement(parsed: Parsed, control_id: str, now: datetime,
                    application: str = "vitalwatch", event: str = "R01") -> str:
    """The ACK for ``parsed`` (original mode): MSH, MSA (code, the message's control id, the
    reason) and an ERR per problem (its location SEG^occurrence^field, the HL7 error code, and
    the text). ``event``: the trigger event acknowledged (``ACK^R01``; an alarm manager's status
    message is answered with ``ACK^R41``)."""
    seps = parsed.msh.get("separators", "|^~\\&")
    if len(seps) != 5:
        seps = "|^~\\&"
    f, c = seps[0], seps[1]
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
    msh = f.join(["MSH", seps[1:], application, "", parsed.msh.get("sending_app", ""),
                  parsed.msh.get("sending_fac", ""), stamp, "", f"ACK{c}{event}{c}ACK",
                  _escape(control_id, seps), parsed.msh.get("processing", "") or "P",
                  parsed.msh.get("version", "") or "2.6"])
    text = parsed.reason if parsed.verdict != "AA" else ""
    lines = [msh, f.join(["MSA", parsed.verdict, _escape(parsed.control_id, seps),
                          _escape(text, seps)])]
    problems = parsed.problems or ([Problem("MSH", 1, 0, parsed.reason, "207")]
                                   if parsed.verdict == "AR" else [])
    for p in problems[:20]:
        location = c.join([p.segment, str(p.index), str(p.field)]) if p.field else p.segment
        severity = "E"
        lines.append(f.join(["ERR", "", location, c.join([p.code, _ERROR_NAMES.get(p.code, ""), "HL70357"]),
                             severity, "", "", "", _escape(p.text[:200], seps)]))
    return "\r".join(lines) + "\r"


_ERROR_NAMES = {"101": "Required field missing", "102": "Data type error",
                "103": "Table value not found", "200": "Unsupported message type",
                "207": "Application internal error"}
