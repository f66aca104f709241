"""Render the demo's alert email in headless Chromium at phone and desktop widths, as a
reader would see it: docs/email-375.png and docs/email-1000.png.

    python docs/screenshots.py        # needs Debian's chromium (/usr/bin/chromium)

Runs `newswatch demo` into a temporary folder, takes its largest email's HTML part, and
screenshots it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from email import message_from_bytes, policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1"]
WIDTHS = {375: 1900, 1000: 1250}  # width -> window height that holds the whole email


def main() -> int:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("needs Chromium: apt-get install chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        subprocess.run([sys.executable, "-m", "newswatch.cli", "demo", "--dir", str(tmp)],
                       cwd=ROOT, check=True, capture_output=True)
        emails = [message_from_bytes(p.read_bytes(), policy=policy.default)
                  for p in (tmp / "mail" / "new").iterdir()]
        biggest = max(emails, key=lambda m: len(m.as_bytes()))
        part = biggest.get_body(("html",))
        assert part is not None
        page = tmp / "email.html"
        page.write_text(str(part.get_content()), encoding="utf-8")
        for width, height in WIDTHS.items():
            out = ROOT / "docs" / f"email-{width}.png"
            subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp / f'profile-{width}'}",
                            f"--window-size={width},{height}", f"--screenshot={out}",
                            page.as_uri()], check=True, capture_output=True, timeout=120)
            print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
