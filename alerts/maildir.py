"""Emails into a maildir instead of a server: one file per message in its new/, readable
by the owner only (the alerts say what the desk watches)."""

from __future__ import annotations

import mailbox
import os
from pathlib import Path
from types import TracebackType

from newswatch.alerts.transport import DeliveryError, Outgoing
from newswatch.config.private import FILE_MODE, private_dir


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

    def send(self, message: Outgoing) -> str:
        assert self.box is not None
        try:
            key = self.box.add(message.body)
            # Maildir writes with the umask's mode; the alerts say what the desk watches
            os.chmod(Path(self.path) / "new" / key, FILE_MODE)
        except OSError as exc:
            raise DeliveryError(f"maildir {self.path}: {exc}", connection=True) from exc
        return f"written to {Path(self.path) / 'new' / key}"
