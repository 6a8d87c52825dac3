"""The roster's REST API (/api/roster): shifts, their room assignments and supervising clinician.

Anyone on the care team reads the roster (``view_roster``); clinicians and admins change it
(``manage_roster``). A refused change is a 422 in the shape of FastAPI's own validation errors
(``detail``: a list of ``{loc, msg, type}``), naming every field at fault, so a form can mark each
one; a change the shift's time forbids (it has ended, or started) is a 409. Every change is audited
with the shift as it was and as it is.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from app.accounts import MAX_ROOM, ROLES, SLOTS, Login
from app.api import MAX_ID, MAX_TIME
from app.roster import NoShift, Roster, RosterError
from app.security import Security, require

router = APIRouter(prefix="/api/roster")

ViewRoster = Annotated[Login, Depends(require("view_roster"))]
ManageRoster = Annotated[Login, Depends(require("manage_roster"))]
SessionDep = Annotated[Login, Depends(require("session"))]

# Bounded as app/api.py bounds its ids and times: an absurd value is a 422 naming it, never a 500.
MAX_SHIFT_ROOMS = 64
ShiftId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryTime = Annotated[float | None, Query(ge=0, le=MAX_TIME)]
Time = Annotated[float, Field(ge=0, le=MAX_TIME, allow_inf_nan=False)]
UserName = Annotated[str, Field(min_length=1, max_length=64)]
ShiftName = Annotated[str, Field(min_length=1, max_length=64)]


class RoomCover(BaseModel):
    """Who covers one room in a shift: its primary nurse and, optionally, a backup."""

    model_config = {"extra": "forbid"}
    room: str = Field(min_length=1, max_length=MAX_ROOM)
    nurse: UserName
    backup: UserName | None = None


class ShiftChange(BaseModel):
    """A change to a shift that has not ended; what is left out stays as it is, and ``rooms``
    replaces every room assignment of the shift."""

    model_config = {"extra": "forbid"}
    name: ShiftName | None = None
    clinician: UserName | None = None
    rooms: list[RoomCover] | None = Field(default=None, max_length=MAX_SHIFT_ROOMS)


class NewShift(BaseModel):
    model_config = {"extra": "forbid"}
    name: ShiftName
    starts: Time
    ends: Time
    clinician: UserName
    rooms: list[RoomCover] = Field(max_length=MAX_SHIFT_ROOMS)


def _sec(request: Request) -> Security:
    return request.app.state.security


def _roster(request: Request) -> Roster:
    return request.app.state.roster


def _refuse(errors: list[tuple[tuple[str | int, ...], str]]) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", *loc], "msg": msg, "type": "roster"} for loc, msg in errors])


def _check_people(sec: Security, clinician: str | None, rooms: list[RoomCover] | None
                  ) -> list[tuple[tuple[str | int, ...], str]]:
    """Every reason the people named cannot take their slots, each with the field it is about."""
    errors: list[tuple[tuple[str | int, ...], str]] = []

    def check(loc: tuple[str | int, ...], slot: str, name: str) -> None:
        record = sec.accounts.password_record(name)
        if record is None:
            errors.append((loc, f"no user {name!r}"))
        elif record["disabled"]:
            errors.append((loc, f"user {name!r} is disabled"))
        elif record["demo"] and not sec.demo:
            errors.append((loc, f"user {name!r} is a demo account; this server is not in demo mode"))
        elif record["role"] not in SLOTS[slot]:
            needs = " or ".join(sorted(SLOTS[slot]))
            errors.append((loc, f"user {name!r} has role {record['role']}; the {slot} slot needs a {needs}"))

    if clinician is not None:
        check(("clinician",), "clinician", clinician)
    seen: dict[str, int] = {}
    for i, cover in enumerate(rooms or ()):
        if cover.room in seen:
            errors.append((("rooms", i, "room"),
                           f"room {cover.room!r} is listed twice (also at rooms.{seen[cover.room]})"))
        seen.setdefault(cover.room, i)
        if cover.room != cover.room.strip():
            errors.append((("rooms", i, "room"), "a room name has no leading or trailing spaces"))
        check(("rooms", i, "nurse"), "nurse", cover.nurse)
        if cover.backup is not None:
            if cover.backup == cover.nurse:
                errors.append((("rooms", i, "backup"), "a nurse cannot be their own backup"))
            else:
                check(("rooms", i, "backup"), "backup", cover.backup)
    return errors


def _covers(rooms: list[RoomCover]) -> dict[str, tuple[str, str | None]]:
    return {c.room: (c.nurse, c.backup) for c in rooms}


def _state_error(e: RosterError) -> HTTPException:
    if isinstance(e, NoShift):
        return HTTPException(404, str(e))
    return HTTPException(409, e.reason)


@router.get("/shifts")
async def shifts(request: Request, login: ViewRoster, at: QueryTime = None,
                 current: bool = False, after: QueryTime = None) -> list[dict[str, Any]]:
    """Every shift, or those covering ``at`` (``current``: now), and/or ending after ``after``."""
    return _roster(request).shifts(at=time.time() if current else at, ending_after=after)


@router.get("/shifts/{shift_id}")
async def shift(shift_id: ShiftId, request: Request, login: ViewRoster) -> dict[str, Any]:
    try:
        return _roster(request).shift(shift_id)
    except NoShift as e:
        raise HTTPException(404, str(e)) from None


@router.post("/shifts", status_code=201)
async def add_shift(body: NewShift, request: Request, login: ManageRoster) -> dict[str, Any]:
    sec, roster, now = _sec(request), _roster(request), time.time()
    errors = _check_people(sec, body.clinician, body.rooms)
    if body.ends <= body.starts:
        errors.append((("ends",), "a shift must end after it starts"))
    elif body.ends <= now:
        errors.append((("ends",), "this shift would have ended already"))
    if errors:
        raise _refuse(errors)
    try:
        shift_id = roster.add_shift(body.name, body.starts, body.ends, body.clinician,
                                    _covers(body.rooms), login.user.name, now)
    except RosterError as e:
        raise _refuse([(tuple(e.field.split(".")), e.reason)]) from None
    new = roster.shift(shift_id)
    sec.audit.record(now, login.user.name, "shift_added", f"shift {shift_id}", new=new)
    return new


@router.patch("/shifts/{shift_id}")
async def change_shift(shift_id: ShiftId, body: ShiftChange, request: Request,
                       login: ManageRoster) -> dict[str, Any]:
    """Change a shift's name, clinician or room assignments (from now on, if it is running)."""
    sec, roster, now = _sec(request), _roster(request), time.time()
    try:
        roster.shift(shift_id)
    except NoShift as e:
        raise HTTPException(404, str(e)) from None
    if body.name is None and body.clinician is None and body.rooms is None:
        raise _refuse([((), "nothing to change: give name, clinician or rooms")])
    if errors := _check_people(sec, body.clinician, body.rooms):
        raise _refuse(errors)
    try:
        old, new = roster.update_shift(shift_id, now, name=body.name, clinician=body.clinician,
                                       rooms=None if body.rooms is None else _covers(body.rooms))
    except RosterError as e:
        raise _state_error(e) from None
    sec.audit.record(now, login.user.name, "shift_changed", f"shift {shift_id}", old=old, new=new)
    return new


@router.post("/shifts/{shift_id}/end")
async def end_shift(shift_id: ShiftId, request: Request, login: ManageRoster) -> dict[str, Any]:
    """End a running shift now."""
    sec, now = _sec(request), time.time()
    try:
        old, new = _roster(request).end_shift(shift_id, now)
    except RosterError as e:
        raise _state_error(e) from None
    sec.audit.record(now, login.user.name, "shift_ended", f"shift {shift_id}", old=old, new=new)
    return new


@router.delete("/shifts/{shift_id}")
async def delete_shift(shift_id: ShiftId, request: Request, login: ManageRoster) -> dict[str, Any]:
    """Delete a shift that has not started."""
    sec, now = _sec(request), time.time()
    try:
        old = _roster(request).delete_shift(shift_id, now)
    except RosterError as e:
        raise _state_error(e) from None
    sec.audit.record(now, login.user.name, "shift_deleted", f"shift {shift_id}", old=old)
    return {"id": shift_id, "deleted": True}


@router.get("/mine")
async def mine(request: Request, login: SessionDep) -> dict[str, Any]:
    """The rooms the logged-in user covers now (as nurse or backup) and the shifts that give
    them; no rooms when nothing is assigned to them."""
    roster, now = _roster(request), time.time()
    name = login.user.name
    return {"name": name, "t": now, "rooms": roster.rooms_of(name, now),
            "shifts": [{"id": s["id"], "name": s["name"], "starts": s["starts"], "ends": s["ends"],
                        "rooms": sorted(r for r, c in s["rooms"].items() if name in (c["nurse"], c["backup"]))}
                       for s in roster.shifts_of(name, now)]}


@router.get("/people")
async def people(request: Request, login: ManageRoster) -> dict[str, list[dict[str, str]]]:
    """For each slot of a shift, the users able to take it (enabled, of a role the slot admits):
    names and roles only."""
    users = [u for u in _sec(request).accounts.users() if not u["disabled"] and u["role"] in ROLES]
    return {slot: [{"name": u["name"], "role": u["role"]} for u in users if u["role"] in roles]
            for slot, roles in SLOTS.items()}
