"""Which Transport serves which kind of recipient: channels go through apprise; emails
over the configured SMTP server, else into the configured maildir, else nowhere (they
wait in the outbox until one is set up)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from newswatch.alerts.channels import ChannelTransport
from newswatch.alerts.maildir import MaildirTransport
from newswatch.alerts.smtp import SmtpTransport
from newswatch.alerts.transport import Kind, Transport
from newswatch.config.models import Alerts

NO_EMAIL = "no delivery configured (alerts.smtp or alerts.maildir)"


def _email(alerts: Alerts) -> Transport | None:
    if alerts.smtp is not None:
        return SmtpTransport(alerts.smtp)
    if alerts.maildir is not None:
        return MaildirTransport(alerts.maildir)
    return None


def _channel(alerts: Alerts) -> Transport | None:
    return ChannelTransport()


# read-only: the kinds are fixed when the package is written, not while it runs
TRANSPORTS: Mapping[Kind, Callable[[Alerts], Transport | None]] = MappingProxyType({
    "channel": _channel,
    "email": _email,
})


def transport_for(kind: Kind, alerts: Alerts) -> Transport | None:
    """A new, unopened transport for this kind of recipient; None when the config sets
    up no way to send it."""
    return TRANSPORTS[kind](alerts)


def where(alerts: Alerts) -> str:
    """Where emails go, as summaries name it."""
    if alerts.smtp is not None:
        return f"SMTP {alerts.smtp.host}:{alerts.smtp.port}"
    if alerts.maildir is not None:
        return f"maildir {alerts.maildir}"
    return NO_EMAIL
