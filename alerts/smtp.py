"""Emails over SMTP: yagmail opens the connection (TLS verified) and logs in, and each
message goes as our own bytes over it, the server's reply kept. Refused connections,
timeouts and 4xx answers are worth another try; 5xx answers are not."""

from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import ssl
from email.utils import parseaddr
from types import TracebackType
from typing import Any, NoReturn

from newswatch.alerts.transport import DeliveryError, Outgoing
from newswatch.config.models import Smtp

log = logging.getLogger(__name__)

KEYRING_SERVICE = "newswatch"


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
        import yagmail  # loaded only when an email goes: most commands send none

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

    def send(self, message: Outgoing) -> str:
        """Send; the server's reply to the message (`... answered 250 2.0.0 Ok: queued`)."""
        sender = message.sender
        try:
            reply = _sendmail(self.client.smtp, parseaddr(sender)[1] or sender,
                              message.recipient, message.body)
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
