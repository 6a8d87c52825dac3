"""What a login may reach of the sites it does not see: nothing, and not even that it exists.

Every route that names a session, an alarm or a monitor in its path (``/api/sessions/{session_id}
/...``, ``/api/alarms/{alarm_id}/...``, ``/api/monitors/{monitor_id}/...``, the report, the
replay's readings and waveforms) goes through ``require`` (app/security.py), which calls
``check`` once the login is known: a session of another site is answered as if it did not exist
(404, the same text as a missing one), so a guessed id tells nothing. Done here, in one place,
rather than in each route: a route added later is covered without remembering to.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from app.accounts import Login

# The ids the routes accept (app/api.py MAX_ID): anything else is the route's own 422, and is never
# looked up here (SQLite takes integers of at most 64 bits).
MAX_ID = 2**53


def _int(value: Any) -> int | None:
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None  # the route's own validation answers it (a 422)
    return n if 1 <= n <= MAX_ID else None


def check(request: Request, login: Login) -> None:
    """Raise 404 when the request's path names a session, an alarm or a monitor of a site the
    login does not see. Ids that do not exist are left to the route (its own 404)."""
    if login.sites.every:
        return
    pipeline = request.app.state.pipeline
    params = request.path_params
    if (sid := _int(params.get("session_id"))) is not None:
        row = pipeline.store.session(sid)
        if row is not None and not login.sites.sees(pipeline.site_of(row)):
            raise HTTPException(404, f"no session {sid}")
    if (aid := _int(params.get("alarm_id"))) is not None:
        alarm = pipeline.alarm_log.alarm(aid)
        row = pipeline.store.session(alarm["session_id"]) if alarm is not None else None
        if row is not None and not login.sites.sees(pipeline.site_of(row)):
            raise HTTPException(404, f"alarm {aid} does not exist")
    if (monitor_id := params.get("monitor_id")) is not None and "session_id" not in params:
        monitor = pipeline.monitors.get(monitor_id)
        site = monitor.site if monitor is not None and monitor.site else \
            request.app.state.security.accounts.device_site(monitor_id)
        if not login.sites.sees(site):
            raise HTTPException(404, f"no monitor {monitor_id!r}")
