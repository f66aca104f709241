"""Delivery: the claimed emails go out over one connection per batch, through yagmail's
SMTP connection (TLS verified) or into a maildir. Temporary failures (refused
connection, timeout, 4xx) back off and retry; permanent ones (5xx) are held as failed."""

from __future__ import annotations

import contextlib
import logging
import mailbox
import os
import smtplib
import ssl
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn, Protocol

from newswatch.alerts import outbox
from newswatch.config.models import Alerts, Smtp
from newswatch.config.private import FILE_MODE, private_dir
from newswatch.store.db import Store

log = logging.getLogger(__name__)

KEYRING_SERVICE = "newswatch"


class DeliveryError(Exception):
    """`permanent`: this email will never go (5xx); otherwise try again later.
    `connection`: the connection is unusable, so the rest of the batch waits too."""

    def __init__(self, message: str, permanent: bool = False, connection: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.connection = connection


class Transport(Protocol):
    def __enter__(self) -> Transport: ...
    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def send(self, sender: str, recipient: str, mime: bytes) -> str: ...


def smtp_password(smtp: Smtp) -> str | None:
    """From `password_env`, else the keyring (service "newswatch", the username); never
    a prompt: with a username and no password, a clear error at once."""
    if not smtp.username:
        return None
    if smtp.password_env:
        value = os.environ.get(smtp.password_env)
        if value:
            return value
    try:
        import keyring

        value = keyring.get_password(KEYRING_SERVICE, smtp.username)
    except Exception as exc:  # no backend on a headless server is common
        log.debug("keyring unavailable: %s", exc)
        value = None
    if value:
        return value
    where = f"${smtp.password_env}" if smtp.password_env else "password_env"
    raise DeliveryError(
        f"no SMTP password for {smtp.username}: set {where}, or store it with "
        f"`keyring set {KEYRING_SERVICE} {smtp.username}`", connection=True)


def _classify(exc: BaseException) -> DeliveryError:
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        permanent = bool(codes) and all(500 <= c < 600 for c in codes)
        return DeliveryError(f"recipient refused: {exc.recipients}", permanent=permanent)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"SMTP login refused: {exc.smtp_code} {exc.smtp_error!r}",
                             connection=True)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
            exc.smtp_error, bytes) else str(exc.smtp_error)
        return DeliveryError(f"SMTP {exc.smtp_code} {text}",
                             permanent=500 <= exc.smtp_code < 600)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return DeliveryError(f"TLS failed (certificate not trusted? see ca_file): {exc}",
                             connection=True)
    if isinstance(exc, smtplib.SMTPException | OSError):
        return DeliveryError(f"{type(exc).__name__}: {exc}", connection=True)
    return DeliveryError(repr(exc), connection=True)


class SmtpTransport:
    """yagmail opens and logs in; the message is ours, sent as bytes over its connection
    (its own builder would rewrite the HTML and repeat Message-IDs)."""

    def __init__(self, smtp: Smtp):
        self.smtp = smtp
        self.client: Any = None

    def __enter__(self) -> SmtpTransport:
        import yagmail

        s = self.smtp
        password = smtp_password(s)
        try:
            context = ssl.create_default_context(cafile=s.ca_file)
        except (OSError, ssl.SSLError) as exc:  # checked at load; gone or broken since
            raise DeliveryError(f"SMTP ca_file {s.ca_file}: {exc.strerror or exc}",
                                connection=True) from exc
        kwargs: dict[str, Any] = {"timeout": s.timeout.total_seconds()}
        if s.security == "tls":
            kwargs["context"] = context
        try:
            self.client = yagmail.SMTP(
                user=s.username or None, password=password, host=s.host, port=s.port,
                smtp_ssl=s.security == "tls",
                smtp_starttls={"context": context} if s.security == "starttls" else False,
                smtp_skip_login=not s.username, soft_email_validation=False, **kwargs)
            self.client.login()
        except Exception as exc:
            # which server: a refused connection is most often a wrong host or port
            why = _classify(exc)
            raise DeliveryError(f"SMTP {s.host}:{s.port}: {why}", permanent=why.permanent,
                                connection=why.connection) from exc
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.client is not None:
            self.client.close()

    def send(self, sender: str, recipient: str, mime: bytes) -> str:
        """Send; the server's reply to the message (`... answered 250 2.0.0 Ok: queued`)."""
        try:
            reply = _sendmail(self.client.smtp, parseaddr(sender)[1] or sender, recipient,
                              mime)
        except Exception as exc:
            raise _classify(exc) from exc
        return f"SMTP {self.smtp.host}:{self.smtp.port} answered {reply}"


def _sendmail(smtp: smtplib.SMTP, sender: str, recipient: str, mime: bytes) -> str:
    """smtplib's sendmail() for one recipient, keeping the server's reply to the message,
    which sendmail() drops: `send --test` shows it, and the log says it."""
    smtp.ehlo_or_helo_if_needed()
    options = [f"size={len(mime)}"] if smtp.does_esmtp and smtp.has_extn("size") else []

    def refused(error: smtplib.SMTPException) -> NoReturn:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.rset()  # the connection serves the next message of the batch
        raise error

    code, answer = smtp.mail(sender, options)
    if code != 250:
        refused(smtplib.SMTPSenderRefused(code, answer, sender))
    code, answer = smtp.rcpt(recipient)
    if code not in (250, 251):
        refused(smtplib.SMTPRecipientsRefused({recipient: (code, answer)}))
    code, answer = smtp.data(mime)
    if code != 250:
        refused(smtplib.SMTPDataError(code, answer))
    return f"{code} {answer.decode('utf-8', 'replace')}"


class MaildirTransport:
    def __init__(self, path: str):
        self.path = path
        self.box: mailbox.Maildir | None = None

    def __enter__(self) -> MaildirTransport:
        try:
            # Maildir(create=True) skips tmp/new/cur when the folder exists already
            for sub in ("", "tmp", "new", "cur"):
                private_dir(Path(self.path) / sub)
            self.box = mailbox.Maildir(self.path, create=True)
        except OSError as exc:
            raise DeliveryError(f"maildir {self.path}: {exc}", connection=True) from exc
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.box = None

    def send(self, sender: str, recipient: str, mime: bytes) -> str:
        assert self.box is not None
        try:
            key = self.box.add(mime)
            # Maildir writes with the umask's mode; the alerts say what the desk watches
            os.chmod(Path(self.path) / "new" / key, FILE_MODE)
        except OSError as exc:
            raise DeliveryError(f"maildir {self.path}: {exc}", connection=True) from exc
        return f"written to {Path(self.path) / 'new' / key}"


def where(alerts: Alerts) -> str:
    """Where emails go, as summaries name it."""
    if alerts.smtp is not None:
        return f"SMTP {alerts.smtp.host}:{alerts.smtp.port}"
    if alerts.maildir is not None:
        return f"maildir {alerts.maildir}"
    return "no delivery configured (alerts.smtp or alerts.maildir)"


def transport_for(alerts: Alerts) -> Transport | None:
    if alerts.smtp is not None:
        return SmtpTransport(alerts.smtp)
    if alerts.maildir is not None:
        return MaildirTransport(alerts.maildir)
    return None


@dataclass
class Report:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    sent_to: list[str] = field(default_factory=list)  # the recipient of each one sent


def deliver(store: Store, alerts: Alerts, force: bool = False) -> Report:
    """Send what is due (everything pending with `force`): the channels' messages one by
    one, the emails over one connection."""
    from newswatch.alerts import channels

    report = Report()
    transport = transport_for(alerts)
    claimed = outbox.claim(store, force=force)
    if not claimed:
        return report
    to_channels = [c for c in claimed if channels.is_channel(c.recipient)]
    claimed = [c for c in claimed if not channels.is_channel(c.recipient)]
    for message in to_channels:
        try:
            answer = channels.send(message.recipient, message.mime)
        except DeliveryError as exc:
            _failed(store, report, message, exc)
            continue
        outbox.mark_sent(store, message.id)
        _sent(report, message, answer)
    if transport is None:  # no email set up: the emails stay pending
        outbox.release(store, [e.id for e in claimed])
        return report
    done: set[int] = set()
    try:
        with transport as t:
            for email in claimed:
                try:
                    answer = t.send(alerts.from_, email.recipient, email.mime)
                except DeliveryError as exc:
                    done.add(email.id)
                    _failed(store, report, email, exc)
                    if exc.connection:
                        break
                    continue
                outbox.mark_sent(store, email.id)
                done.add(email.id)
                _sent(report, email, answer)
    except DeliveryError as exc:  # could not connect or log in: the whole batch waits
        for email in claimed:
            if email.id not in done:
                outbox.mark_retry(store, email.id, str(exc), email.attempts)
                done.add(email.id)
                report.retry += 1
        report.errors.append(str(exc))
        log.debug("no emails sent: %s", exc)
    finally:
        outbox.release(store, [e.id for e in claimed if e.id not in done])
    return report


def _sent(report: Report, message: outbox.Claimed, answer: str) -> None:
    from newswatch.alerts.channels import shown

    report.sent += 1
    report.sent_to.append(message.recipient)
    log.info("sent %s to %s: %s (%s)", message.message_id, shown(message.recipient),
             message.subject, answer)


def _failed(store: Store, report: Report, message: outbox.Claimed,
            exc: DeliveryError) -> None:
    """Held as failed for good, or back to pending with a backoff."""
    from newswatch.alerts.channels import shown

    if exc.permanent:
        outbox.mark_failed(store, message.id, str(exc))
        report.failed += 1
        log.error("message %s to %s failed for good: %s", message.message_id,
                  shown(message.recipient), exc)
    else:
        when = outbox.mark_retry(store, message.id, str(exc), message.attempts)
        report.retry += 1
        # the command's report or the daemon's log says it, once
        log.debug("message to %s not sent (%s); next try %s", shown(message.recipient), exc,
                  when.isoformat(timespec="seconds"))
    report.errors.append(str(exc))
