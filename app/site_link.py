"""A site's link, supervised like any other link: lost when every monitor of the site has gone
silent at once.

A lost feed of one monitor is that monitor's alarm (T4). When all the monitors of a site that
were streaming into this instance fall silent or disconnect together, the cause is the site's
network or uplink, and the central station says so for the site as a whole: a banner per site
("SITE LINK LOST: <site>"), and the site listed on ``/api/health``. The delay and the title come
from the rules file's rule on the ``site_link_lost`` signal (``N2`` by default); a rules file
that switches it off switches this supervision off. A site with no monitor expected here (every
session ended) is not watched at all: nothing streams, so nothing is missing.

It does no I/O and reads no clock: the pipeline's supervision gives it the time and, per site,
when one of its monitors was last heard; it answers with the feed messages to publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from alerts.rules import Rule, RuleSet
from app import feed

SIGNAL: Final = "site_link_lost"


def rule_of(rules: RuleSet) -> Rule | None:
    """The enabled rule watching the site link, if the rules file has one."""
    return next((r for r in rules.rules.values() if r.signal == SIGNAL and r.enabled), None)


@dataclass
class _Watched:
    last_heard: float
    lost: bool = False


class SiteLinks:
    def __init__(self, rules: RuleSet) -> None:
        self.rule = rule_of(rules)
        self.watched: dict[str, _Watched] = {}

    def _link(self, site: str, w: _Watched) -> feed.SiteLinkMessage:
        assert self.rule is not None
        return feed.SiteLinkMessage(site=site, lost=w.lost, last_heard_server=w.last_heard,
                                    delay_s=self.rule.delay_s, title=self.rule.title)

    def supervise(self, now: float, heard: dict[str, float]) -> list[feed.SiteLinkMessage]:
        """``heard``: for each site with monitors expected here, when one was last heard. Returns
        a message for each site whose link was lost or came back."""
        if self.rule is None:
            return []
        out = []
        for site, last in heard.items():
            w = self.watched.setdefault(site, _Watched(last))
            w.last_heard = last
            lost = now - last > self.rule.delay_s
            if lost != w.lost:
                w.lost = lost
                out.append(self._link(site, w))
        for site in [s for s in self.watched if s not in heard]:
            w = self.watched.pop(site)
            if w.lost:  # its sessions ended: nothing expected there any more
                w.lost = False
                out.append(self._link(site, w))
        return out

    def silent(self, now: float, silence_s: float) -> set[str]:
        """The sites none of whose expected monitors has been heard for ``silence_s`` (a feed's
        silence): N2's condition in each of their sessions, whose alarm system then counts the
        rule's delay as for any signal rule (so the alarm follows the banner by ``silence_s``)."""
        if self.rule is None:
            return set()
        return {site for site, w in self.watched.items() if now - w.last_heard > silence_s}

    def lost(self) -> list[feed.SiteLink]:
        """The sites whose link is lost now, by name."""
        return [feed.SiteLink.model_validate(self._link(site, w).model_dump(exclude={"type"}))
                for site, w in sorted(self.watched.items()) if w.lost]
