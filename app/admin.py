"""Administration: users, devices and the audit trail (admins only). Every change is audited."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from app.accounts import AccountError, Login
from app.security import Security, require

router = APIRouter(prefix="/api")

ManageUsers = Annotated[Login, Depends(require("manage_users"))]
ManageDevices = Annotated[Login, Depends(require("manage_devices"))]
ViewAudit = Annotated[Login, Depends(require("view_audit"))]


def _sec(request: Request) -> Security:
    return request.app.state.security  # type: ignore[no-any-return]


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: str
    password: str = Field(min_length=10, max_length=1024)


@router.get("/users")
async def users(request: Request, login: ManageUsers) -> list[dict[str, Any]]:
    return _sec(request).accounts.users()


@router.post("/users", status_code=201)
async def add_user(body: NewUser, request: Request, login: ManageUsers) -> dict[str, Any]:
    sec = _sec(request)
    try:
        sec.accounts.add_user(body.name, body.role, body.password, time.time())
    except AccountError as e:
        raise HTTPException(422, str(e)) from None
    sec.audit.record(time.time(), login.user.name, "user_added", body.name, new={"role": body.role})
    return {"name": body.name, "role": body.role}


@router.post("/users/{name}/disable")
async def disable_user(name: str, request: Request, login: ManageUsers) -> dict[str, Any]:
    sec = _sec(request)
    try:
        sec.accounts.set_disabled(name, True)
    except AccountError as e:
        raise HTTPException(404, str(e)) from None
    sec.audit.record(time.time(), login.user.name, "user_disabled", name, old={"disabled": False},
                     new={"disabled": True})
    return {"name": name, "disabled": True}


class NewDevice(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")


@router.get("/devices")
async def devices(request: Request, login: ManageDevices) -> list[dict[str, Any]]:
    return _sec(request).accounts.devices()


@router.post("/devices", status_code=201)
async def add_device(body: NewDevice, request: Request, login: ManageDevices) -> dict[str, Any]:
    """Register a monitor; the token in the answer is shown this once and stored only hashed."""
    sec = _sec(request)
    try:
        token = sec.accounts.add_device(body.name, time.time())
    except AccountError as e:
        raise HTTPException(409, str(e)) from None
    sec.audit.record(time.time(), login.user.name, "device_added", body.name)
    return {"name": body.name, "token": token}


@router.post("/devices/{name}/revoke")
async def revoke_device(name: str, request: Request, login: ManageDevices) -> dict[str, Any]:
    sec = _sec(request)
    try:
        sec.accounts.revoke_device(name, time.time())
    except AccountError as e:
        raise HTTPException(404, str(e)) from None
    sec.audit.record(time.time(), login.user.name, "device_revoked", name)
    return {"name": name, "revoked": True}


@router.get("/audit")
async def audit(request: Request, login: ViewAudit, since: float | None = None,
                action: str | None = None) -> list[dict[str, Any]]:
    return _sec(request).audit.entries(since, action)


@router.get("/audit.csv", response_class=PlainTextResponse)
async def audit_csv(request: Request, login: ViewAudit) -> PlainTextResponse:
    sec = _sec(request)
    sec.audit.record(time.time(), login.user.name, "audit_exported")
    return PlainTextResponse(sec.audit.csv(), media_type="text/csv",
                             headers={"Content-Disposition": "attachment; filename=vitalwatch-audit.csv"})
