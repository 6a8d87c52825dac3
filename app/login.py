"""Logging in and out, and who the current user is."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.accounts import Login
from app.security import Security, clear_login_cookies, require, set_login_cookies

router = APIRouter()


class Credentials(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def _security(request: Request) -> Security:
    return request.app.state.security


@router.post("/api/login")
async def login(body: Credentials, request: Request) -> JSONResponse:
    sec = _security(request)
    now = time.time()
    client = request.client.host if request.client else "?"
    if not sec.origin_ok(request.headers.get("origin"), request.headers.get("host")):
        raise HTTPException(403, "cross-origin login refused")
    keys = [f"ip:{client}", f"user:{body.name}"]
    wait = sec.limiter.retry_after(keys, now)
    if wait > 0:
        sec.audit.record(now, body.name, "login_refused", source=client, new={"reason": "rate limit"})
        raise HTTPException(429, f"too many failed logins; try again in {wait:.0f} s",
                            headers={"Retry-After": str(int(wait) + 1)})
    # Count the attempt as failed before the password check, which runs off the event loop:
    # counted only afterwards, any number of attempts sent at once would all pass the limit
    # above before the first of them had failed. A success clears the count again.
    sec.limiter.failed(keys, now)
    record = sec.accounts.password_record(body.name)
    user = await asyncio.to_thread(sec.accounts.check_password, record, body.password, sec.demo)
    if user is None:
        sec.audit.record(now, body.name, "login_failed", source=client)
        raise HTTPException(401, "wrong name or password")
    sec.limiter.succeeded(keys)
    token, csrf = sec.accounts.login(user, now)
    sec.audit.record(now, user.name, "login", source=client)
    response = JSONResponse({"name": user.name, "role": user.role,
                             "permissions": sorted(user.permissions)})
    set_login_cookies(response, token, csrf)
    return response


@router.post("/api/logout")
async def logout(request: Request, login: Annotated[Login, Depends(require("session"))]) -> JSONResponse:
    sec = _security(request)
    sec.accounts.logout(login.token_hash)
    sec.audit.record(time.time(), login.user.name, "logout")
    response = JSONResponse({"ok": True})
    clear_login_cookies(response)
    return response


@router.get("/api/me")
async def me(login: Annotated[Login, Depends(require("session"))]) -> dict[str, Any]:
    return {"name": login.user.name, "role": login.user.role, "demo": login.user.demo,
            "permissions": sorted(login.user.permissions),
            "sites": login.sites.to_json()}  # None: every site
