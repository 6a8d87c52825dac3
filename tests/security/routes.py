"""Every way into the app, found by walking the routes of a real app object: HTTP routes (also
those of included routers), websockets, and each file under a static mount.

The walk is what keeps the security tests honest: a route added tomorrow is in the list without
anyone remembering to add it, and the tests then demand that it refuses anonymous requests and
names the permission it needs.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app.security import PUBLIC

# A websocket checks its caller in its handler, where the walk cannot see it: each one must be
# declared here, so that a new websocket fails the tests until someone says who may use it.
DEVICE = "device token"
WEBSOCKETS = {"/ws/live": "view_live", "/ws/ingest": DEVICE}

# Path parameters are filled with values that exist nowhere: a permitted request then answers
# 404 or 422 instead of changing anything.
MISSING_INT = "999999"
MISSING_STR = "no-such-thing"


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "http", "websocket" or "static"
    method: str  # "GET", "POST", … ("WS" for websockets)
    template: str  # the route's path as declared, e.g. /api/sessions/{session_id}
    path: str  # a concrete path to request
    permissions: frozenset[str]  # what the route's dependencies require; empty if none
    # (where, name, kind) of each declared parameter: where is "path" or "query", kind is
    # "int", "float", "bool", "str" or "list" (of strings).
    params: tuple[tuple[str, str, str], ...] = ()

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def public(self) -> bool:
        return is_public(self.path)

    @property
    def permission(self) -> str | None:
        if self.kind == "websocket":
            return WEBSOCKETS.get(self.template)
        assert len(self.permissions) <= 1, f"{self.id} needs several permissions: {self.permissions}"
        return next(iter(self.permissions), None)

    @property
    def page(self) -> bool:
        """An HTML page (an anonymous visitor is sent to the login page) rather than the API."""
        return self.kind == "http" and not self.path.startswith("/api/")


def is_public(path: str) -> bool:
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in PUBLIC)


def permissions_of(dependant: Any) -> frozenset[str]:
    """Every ``.permission`` carried by a dependency of ``dependant``, however deep."""
    found: set[str] = set()
    stack = list(getattr(dependant, "dependencies", []))
    while stack:
        dep = stack.pop()
        if (p := getattr(dep.call, "permission", None)) is not None:
            found.add(p)
        stack.extend(dep.dependencies)
    return frozenset(found)


def _kind(annotation: Any) -> str:
    text = str(annotation)  # "<class 'int'>", "int | None", "list[...] | None", …
    return next((k for k in ("list", "bool", "int", "float")
                 if text == f"<class '{k}'>" or text.startswith(k)), "str")


def params_of(dependant: Any) -> tuple[tuple[str, str, str], ...]:
    """Every path and query parameter a route declares, however deep in its dependencies."""
    found: list[tuple[str, str, str]] = []
    stack = [dependant] if dependant is not None else []
    while stack:
        dep = stack.pop()
        found += [("path", f.name, _kind(f.field_info.annotation)) for f in dep.path_params]
        found += [("query", f.name, _kind(f.field_info.annotation)) for f in dep.query_params]
        stack.extend(dep.dependencies)
    return tuple(dict.fromkeys(found))


def _param_types(dependant: Any) -> dict[str, Any]:
    types = {}
    for f in getattr(dependant, "path_params", []):
        types[f.name] = getattr(f.field_info, "annotation", None)
    return types


def concrete(template: str, dependant: Any = None) -> str:
    types = _param_types(dependant)

    def fill(m: re.Match[str]) -> str:
        name, convertor = m.group(1), m.group(2) or ""
        is_int = types.get(name) is int or convertor in (":int", ":float")
        return MISSING_INT if is_int else MISSING_STR

    return re.sub(r"\{(\w+)(:\w+)?\}", fill, template)


def _routes(app: Any) -> list[tuple[BaseRoute, Any]]:
    """(route, its effective view): FastAPI >= 0.16x keeps included routers as one entry each and
    resolves their routes lazily; older versions flatten them into ``app.routes``."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI
        return [(r, r) for r in app.routes]
    return [(rc.original_route, rc) for rc in iter_route_contexts(app.routes)]


def walk(app: Any, prefix: str = "") -> list[Endpoint]:
    out: list[Endpoint] = []
    for original, route in _routes(app):
        if isinstance(original, Mount):
            mounted = original.app
            base = prefix + original.path
            if isinstance(mounted, StaticFiles):
                for directory in mounted.all_directories:
                    for f in sorted(Path(directory).rglob("*")):
                        if f.is_file():
                            rel = f.relative_to(directory).as_posix()
                            out.append(Endpoint("static", "GET", f"{base}/{{path}}", f"{base}/{rel}",
                                                frozenset()))
            elif getattr(mounted, "routes", None) is not None:
                out.extend(walk(mounted, base))
            else:  # something opaque is mounted: at least its root must be checked
                out.append(Endpoint("http", "GET", base + "/", base + "/", frozenset()))
            continue
        template = prefix + route.path
        dependant = getattr(route, "dependant", None)
        perms = permissions_of(dependant)
        if isinstance(original, WebSocketRoute) or type(original).__name__ == "APIWebSocketRoute":
            out.append(Endpoint("websocket", "WS", template, concrete(template, dependant), perms))
            continue
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette answers HEAD with the GET handler
        for method in sorted(methods):
            out.append(Endpoint("http", method, template, concrete(template, dependant), perms,
                                params_of(dependant)))
    return out


@cache
def endpoints() -> tuple[Endpoint, ...]:
    """Every endpoint of an app built exactly as ``vitalwatch serve`` builds it."""
    from app.server import Settings, create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp)))
        try:
            return tuple(walk(app))
        finally:
            app.state.pipeline.store.close()

