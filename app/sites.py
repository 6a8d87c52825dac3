"""Sites: the clinics of a network that share one database and one bus.

A room belongs to the site of the monitor that started its session (its device registration
names the site); a user sees the sites an admin granted, or the default site without a grant; the
admin role sees every site. What a user may see is decided here once and enforced by the server
(the live feed, the history API, alarm actions): a page never filters on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Final

from pydantic import Field

# The clinic's default site when nothing else is said (``Settings.default_site``, ``--default-site``).
DEFAULT_SITE: Final = "clinic"
MAX_SITE: Final = 32
MAX_GRANTS: Final = 64
# The one definition of a site name, for the checks here and for the wire models' fields.
PATTERN: Final = r"^[a-z0-9-]{1,32}$"
_NAME = re.compile(PATTERN)
Name = Annotated[str, Field(pattern=PATTERN)]


class SiteError(ValueError):
    """A site name or a list of grants that is not allowed; the message says why."""


def check(name: str) -> str:
    """A site name as stored: 1-32 lowercase letters, digits or '-' (it goes in channel names
    and page headers, so nothing that needs quoting)."""
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise SiteError(f"a site name is 1–{MAX_SITE} lowercase letters, digits or '-', not {str(name)[:80]!r}")
    return name


def checked(names: Iterable[str]) -> tuple[str, ...]:
    listed = tuple(dict.fromkeys(check(n) for n in names))
    if len(listed) > MAX_GRANTS:
        raise SiteError(f"at most {MAX_GRANTS} sites per user")
    return listed


@dataclass(frozen=True)
class Visible:
    """The sites someone sees: ``sites`` None is every site (the admin role, the server itself)."""

    sites: frozenset[str] | None = None

    def sees(self, site: str | None) -> bool:
        """A site not known (None) is seen only by whoever sees every site: fail closed."""
        if self.sites is None:
            return True
        return site is not None and site in self.sites

    @property
    def every(self) -> bool:
        return self.sites is None

    def to_json(self) -> list[str] | None:
        return None if self.sites is None else sorted(self.sites)


EVERY_SITE: Final = Visible(None)
NO_SITE: Final = Visible(frozenset())
