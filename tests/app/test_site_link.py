"""A site's link is supervised like any other link: when every monitor of a site that had
monitors streaming has been silent or disconnected for the delay of the rules file's
site-link rule, the site's loss is on the live feed and on /api/health; one monitor of the site
still heard keeps the site's link up; a monitor heard again clears it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.helpers import Dashboard, RawMonitor, check_feed_message, numerics, server_with_rules
from tests.conftest import Server, seconds, wait_for

T0 = 1_800_000_000.0
SITE_LINK_S = 2.0  # the site-link rule's delay in this test's rules file (30 s by default)


@pytest.fixture
def site_server(tmp_path: Path) -> Iterator[Server]:
    yield from server_with_rules(tmp_path, N2=SITE_LINK_S)


class Beating:
    """A monitor that keeps its feed alive with a heartbeat every half second, until stopped."""

    def __init__(self, mon: RawMonitor, seq: int) -> None:
        self.mon, self.seq, self.stop = mon, seq, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            self.seq += 1
            self.mon.send({"type": "heartbeat", "seq": self.seq, "t": T0 + self.seq})

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=seconds(5))
        self.mon.close()


def lost_sites(server: Server) -> list[str]:
    return [s["site"] for s in server.get("/api/health", role="admin")["site_links_lost"]]


def test_a_site_whose_monitors_all_fall_silent_is_lost_until_one_is_heard(site_server: Server) -> None:
    """North has two monitors, south one. One north monitor disconnecting loses nothing (the other
    is heard); the second going too loses north after the rule's delay: a site_link message
    (lost, with the rule's delay and title) on the feed of a user who sees north, north listed on
    /api/health with how long it has been silent, and N2 raised in the alarm log of each of
    north's sessions (so it is delivered like any alarm); south is not lost. North's monitor heard again
    clears it (a site_link message, lost false), /api/health lists nothing, and N2 is latched
    for acknowledgement."""
    srv = site_server
    for monitor_id, site in (("mon-n1", "north"), ("mon-n2", "north"), ("mon-s1", "south")):
        srv.device_token(monitor_id, site=site)
    n1 = Beating(RawMonitor(srv, monitor_id="mon-n1", room="N-1"), 0)
    n2 = Beating(RawMonitor(srv, monitor_id="mon-n2", room="N-2"), 0)
    s1 = Beating(RawMonitor(srv, monitor_id="mon-s1", room="S-1"), 0)
    accounts = srv._accounts()
    accounts.set_user_sites("user-nurse", ["north", "south"])
    accounts.set_user_sites("user-clinician", ["north", "south"])
    accounts.db.close()
    dash = Dashboard(srv, role="nurse", validate=True)
    assert dash.snapshot["site_links"] == []
    n1.close()
    time.sleep(seconds(SITE_LINK_S + 2))
    assert lost_sites(srv) == [], "one silent monitor of a site with another heard lost the site"
    n2.close()
    lost = dash.wait(lambda m: m["type"] == "site_link", timeout=SITE_LINK_S + 10)
    check_feed_message(lost)
    assert lost["site"] == "north" and lost["lost"] is True
    assert lost["delay_s"] == SITE_LINK_S and lost["title"] == "Site link lost"
    health = srv.get("/api/health", role="nurse")["site_links_lost"]
    assert [h["site"] for h in health] == ["north"] and health[0]["silent_s"] > SITE_LINK_S

    def n2(room: str) -> list[str]:  # N2's states in the room's session, from its alarm log
        sid = next(r["session_id"] for r in srv.get("/api/rooms", role="clinician") if r["room"] == room)
        return [a["state"] for a in srv.get(f"/api/sessions/{sid}", role="clinician")["alarms"] if a["rule"] == "N2"]

    wait_for(lambda: n2("N-1") == ["active"] and n2("N-2") == ["active"], timeout=SITE_LINK_S + 10,
             what="N2 raised in each of north's sessions")
    assert n2("S-1") == []
    again = Dashboard(srv, role="nurse")  # a page opened now learns of it from its snapshot
    assert [s["site"] for s in again.snapshot["site_links"]] == ["north"]
    heard = RawMonitor(srv, monitor_id="mon-n2", room="N-2")
    heard.send(numerics(1, T0 + 100, HR=70))
    back = Beating(heard, 1)
    cleared = dash.wait(lambda m: m["type"] == "site_link" and m["lost"] is False)
    assert cleared["site"] == "north"
    assert wait_for(lambda: lost_sites(srv) == [], timeout=5, what="north no longer listed")
    # Its condition over, N2 is latched, as a high alarm is, until someone acknowledges it.
    wait_for(lambda: n2("N-1") == n2("N-2") == ["latched"], timeout=10, what="N2 ended in north's sessions")
    back.close()
    s1.close()


def test_another_sites_link_is_not_told_to_a_user_who_does_not_see_it(site_server: Server) -> None:
    """A user who sees the default site only never gets north's site_link message, nor north on
    /api/health, while an admin's /api/health lists it."""
    srv = site_server
    srv.device_token("mon-n1", site="north")
    mon = RawMonitor(srv, monitor_id="mon-n1", room="N-1")
    dash = Dashboard(srv, role="nurse")
    mon.close()
    assert wait_for(lambda: lost_sites(srv) == ["north"], timeout=SITE_LINK_S + 10, what="north lost")
    assert srv.get("/api/health", role="nurse")["site_links_lost"] == []
    dash.wait(lambda m: m["type"] == "heartbeat")
    assert all(m["type"] != "site_link" for m in dash.seen)
