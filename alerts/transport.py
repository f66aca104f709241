"""The one interface every way out implements (SPEC §6, §12): an email address gets an
email over SMTP or into a maildir, a channel URL gets a chat message through apprise.
A Transport is opened for a batch (`with`), sends one Outgoing message at a time and
returns what the other side answered; a DeliveryError says why not and whether to try
again. `alerts.registry` picks the implementation for a kind of recipient; the outbox
and delivery only see this interface, and the recipients' kinds named here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Protocol

Kind = Literal["email", "channel"]
# the order a batch goes out in: a channel's message never waits on an SMTP connection
KINDS: tuple[Kind, ...] = ("channel", "email")


class DeliveryError(Exception):
    """`permanent`: this message will never go (5xx); otherwise try again later.
    `connection`: the connection is unusable, so the rest of the batch waits too."""

    def __init__(self, message: str, permanent: bool = False, connection: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.connection = connection


@dataclass(frozen=True)
class Outgoing:
    """One message to one recipient: an email's bytes, or a channel's message (the JSON
    that alerts.channels.render makes). A channel has no use for the sender."""

    sender: str
    recipient: str
    body: bytes


class Transport(Protocol):
    def __enter__(self) -> Transport: ...
    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def send(self, message: Outgoing) -> str:
        """Send it; what the other side answered (an SMTP reply, apprise's ok, a file)."""
        ...


def kind(recipient: str) -> Kind:
    """Email addresses have no scheme; channels are URLs."""
    return "channel" if "://" in recipient else "email"


def is_channel(recipient: str) -> bool:
    return kind(recipient) == "channel"


def redact(url: str) -> str:
    """A channel's URL as logs and `status` show it: its scheme and host, no token."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rpartition("@")[2]
    return f"{scheme}://{host}/…"


def shown(recipient: str) -> str:
    """A recipient as every output shows it: an email address, or a channel without its
    token."""
    return redact(recipient) if is_channel(recipient) else recipient


def kinds(recipients: Iterable[str]) -> str:
    """How many messages of each kind go to these recipients: `2 emails`, `1 email and
    1 channel message`, `0 emails`."""
    to = list(recipients)
    chats = sum(1 for r in to if is_channel(r))
    mails = len(to) - chats
    parts = [f"{mails} email{'s' if mails != 1 else ''}"] if mails or not chats else []
    if chats:
        parts.append(f"{chats} channel message{'s' if chats != 1 else ''}")
    return " and ".join(parts)
