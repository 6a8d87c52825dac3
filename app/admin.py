"""Administration: users, devices and the audit trail (admins only). Every change is audited."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from app.accounts import MAX_ROOM, MAX_ROOMS, AccountError, Login, binding
from app.security import Security, require
from app.sites import MAX_GRANTS
from app.sites import Name as SiteName

router = APIRouter(prefix="/api")

ManageUsers = Annotated[Login, Depends(require("manage_users"))]
ManageDevices = Annotated[Login, Depends(require("manage_devices"))]
ViewAudit = Annotated[Login, Depends(require("view_audit"))]
# Path and query parameters are bounded like the bodies: an absurd value is a 422 naming it.
UserName = Annotated[str, Path(min_length=1, max_length=64)]
DeviceName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Room = Annotated[str, Field(min_length=1, max_length=MAX_ROOM)]


def _sec(request: Request) -> Security:
    return request.app.state.security


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: str
    password: str = Field(min_length=10, max_length=1024)
    sites: list[SiteName] = Field(default_factory=list, max_length=MAX_GRANTS)  # none: the default site


class UserSites(BaseModel):
    model_config = {"extra": "forbid"}
    sites: list[SiteName] = Field(default_factory=list, max_length=MAX_GRANTS)


@router.get("/users")
async def users(request: Request, login: ManageUsers) -> list[dict[str, Any]]:
    return _sec(request).accounts.users()


@router.post("/users", status_code=201)
async def add_user(body: NewUser, request: Request, login: ManageUsers) -> dict[str, Any]:
    sec = _sec(request)
    try:
        sec.accounts.add_user(body.name, body.role, body.password, time.time(), granted=body.sites)
    except AccountError as e:
        raise HTTPException(422, str(e)) from None
    granted = list(sec.accounts.user_sites(body.name))
    sec.audit.record(time.time(), login.user.name, "user_added", body.name,
                     new={"role": body.role, **({"sites": granted} if granted else {})})
    return {"name": body.name, "role": body.role, "sites": granted}


@router.put("/users/{name}/sites")
async def set_user_sites(name: UserName, body: UserSites, request: Request,
                         login: ManageUsers) -> dict[str, Any]:
    """Replace the sites a user sees (none: the default site); from the user's next request,
    and their open live feeds at their next login check. Audited with old → new."""
    sec = _sec(request)
    try:
        old, new = sec.accounts.set_user_sites(name, body.sites)
    except AccountError as e:
        raise HTTPException(404 if "no user" in str(e) else 422, str(e)) from None
    sec.audit.record(time.time(), login.user.name, "user_sites_changed", name,
                     old={"sites": list(old)}, new={"sites": list(new)})
    return {"name": name, "sites": list(new)}


@router.post("/users/{name}/disable")
async def disable_user(name: UserName, request: Request, login: ManageUsers) -> dict[str, Any]:
    sec = _sec(request)
    try:
        sec.accounts.set_disabled(name, True)
    except AccountError as e:
        raise HTTPException(404, str(e)) from None
    sec.audit.record(time.time(), login.user.name, "user_disabled", name, old={"disabled": False},
                     new={"disabled": True})
    return {"name": name, "disabled": True}


class DeviceRooms(BaseModel):
    """The rooms a device may feed: a list, or ``any_room: true`` (chosen knowingly) instead."""

    model_config = {"extra": "forbid"}
    rooms: list[Room] = Field(default_factory=list, max_length=MAX_ROOMS)
    any_room: bool = False


class NewDevice(DeviceRooms):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    site: SiteName | None = None  # None: the default site


@router.get("/devices")
async def devices(request: Request, login: ManageDevices) -> list[dict[str, Any]]:
    return _sec(request).accounts.devices()


@router.post("/devices", status_code=201)
async def add_device(body: NewDevice, request: Request, login: ManageDevices) -> dict[str, Any]:
    """Register a monitor; the token in the answer is shown this once and stored only hashed."""
    sec = _sec(request)
    try:
        bound = binding(body.rooms, body.any_room)
    except AccountError as e:
        raise HTTPException(422, str(e)) from None
    try:
        token = sec.accounts.add_device(body.name, time.time(), bound.rooms, bound.any_room,
                                        site=body.site)
    except AccountError as e:
        raise HTTPException(409, str(e)) from None
    added = {**bound.to_json(), "site": sec.accounts.device_site(body.name)}
    sec.audit.record(time.time(), login.user.name, "device_added", body.name, new=added)
    return {"name": body.name, "token": token, **added}


@router.put("/devices/{name}/rooms")
async def set_device_rooms(name: DeviceName, body: DeviceRooms, request: Request,
                           login: ManageDevices) -> dict[str, Any]:
    """Change the rooms a device may feed (from its next hello); audited with old → new."""
    sec = _sec(request)
    if sec.accounts.device_binding(name) is None:
        raise HTTPException(404, f"no active device {name!r}")
    try:
        old, new = sec.accounts.set_device_rooms(name, body.rooms, body.any_room)
    except AccountError as e:
        raise HTTPException(422, str(e)) from None
    sec.audit.record(time.time(), login.user.name, "device_rooms_changed", name,
                     old=old.to_json(), new=new.to_json())
    return {"name": name, **new.to_json()}


@router.post("/devices/{name}/revoke")
async def revoke_device(name: DeviceName, request: Request, login: ManageDevices) -> dict[str, Any]:
    sec = _sec(request)
    try:
        sec.accounts.revoke_device(name, time.time())
    except AccountError as e:
        raise HTTPException(404, str(e)) from None
    sec.audit.record(time.time(), login.user.name, "device_revoked", name)
    return {"name": name, "revoked": True}


@router.get("/audit")
async def audit(request: Request, login: ViewAudit,
                since: Annotated[float | None, Query(ge=0, le=1e11)] = None,
                action: Annotated[str | None, Query(max_length=64)] = None) -> list[dict[str, Any]]:
    return _sec(request).audit.entries(since, action)


@router.get("/audit.csv", response_class=PlainTextResponse)
async def audit_csv(request: Request, login: ViewAudit) -> PlainTextResponse:
    sec = _sec(request)
    sec.audit.record(time.time(), login.user.name, "audit_exported")
    return PlainTextResponse(sec.audit.csv(), media_type="text/csv",
                             headers={"Content-Disposition": "attachment; filename=vitalwatch-audit.csv"})
