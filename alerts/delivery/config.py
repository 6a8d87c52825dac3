"""The channels file (``vitalwatch serve --channels FILE``): where the server sends alarms.

A clinic's own settings, kept on the server like the rules file, and refused at start-up with the
line's field and why when it is wrong (a server that cannot reach its alarm manager must not start
believing it can). Who is told when is the rules file's ``delivery`` section; this file says only
where each kind of destination is::

    push:                       # Web Push to installed nurse views (VAPID keys live in the data dir)
      subject: mailto:it@clinic.example
    notify:                     # notification services by apprise URL
      - {url: "ntfys://ntfy.clinic.example/ward-3", to: site}
      - {url: "mailto://user:pass@smtp.clinic.example?to=ann@clinic.example", to: nurse-ann}
    webhooks:                   # a signed POST of each notice (docs/delivery.md)
      - {url: "https://hooks.clinic.example/alarms", secret_file: webhook.secret}
    pcd04:                      # IHE PCD-04 ORU^R40 over MLLP to an alarm communication manager
      - {host: acm.clinic.example, port: 2575, status_port: 2576}

``to: site`` takes every alarm of the site at once; ``to: <user>`` makes the URL one of that
user's destinations, reached when the escalation chain reaches the user. Paths are relative to
the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PushSettings(_Model):
    subject: str = Field(pattern=r"^(mailto:|https://)", description="VAPID contact (RFC 8292)")


class NotifyTarget(_Model):
    url: str = Field(min_length=3, description="an apprise URL")
    to: str = Field(min_length=1, description="'site', or the user name this URL reaches")


class WebhookTarget(_Model):
    url: str = Field(pattern=r"^https?://")
    secret_file: Path = Field(description="the HMAC key, one line; relative to the channels file")


class Pcd04Target(_Model):
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    status_port: int | None = Field(default=None, ge=0, le=65535,
                                    description="where this server listens for the manager's status (PCD-05); 0: any free port")
    tls: bool = False
    facility: str = Field(default="VITALWATCH", max_length=20, description="MSH-4")


class Channels(_Model):
    version: Literal[1] = 1
    push: PushSettings | None = None
    notify: list[NotifyTarget] = Field(default_factory=list)
    webhooks: list[WebhookTarget] = Field(default_factory=list)
    pcd04: list[Pcd04Target] = Field(default_factory=list)
    source: Path | None = Field(default=None, exclude=True)

    def resolve(self, path: Path) -> Path:
        """A path of the file, relative to the file's own folder."""
        return path if path.is_absolute() or self.source is None else self.source.parent / path


class ChannelsError(ValueError):
    """The channels file is wrong: the message names the field and why."""


def load(path: Path | None) -> Channels:
    """The channels file at ``path`` (none: no channel but the nurse view's own push, which
    needs no settings beyond a default subject). Raises ChannelsError naming the field and why."""
    if path is None:
        return Channels(push=PushSettings(subject="mailto:admin@localhost"))
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ChannelsError(f"{path}: {e}") from None
    try:
        channels = Channels.model_validate(data or {})
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(file)"
        raise ChannelsError(f"{path}: {where}: {err['msg']}") from None
    channels.source = Path(path)
    for hook in channels.webhooks:
        secret = channels.resolve(hook.secret_file)
        if not secret.is_file() or not secret.read_text().strip():
            raise ChannelsError(f"{path}: webhooks: secret_file {secret}: missing or empty")
    return channels
