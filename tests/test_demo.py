"""`newswatch demo`, as a new user runs it: twice."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.e2e  # the demo serves its own news site and crawls it
def test_demo_writes_the_emails_once_and_explains_them(tmp_path: Path) -> None:
    first = run_cli("demo", "--dir", str(tmp_path / "demo"))
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "what matched, and why:" in out
    for watch in ("crypto-council", "crypto-mous", "virtual-assets-law", "mining-power"):
        assert f"  {watch} " in out
    assert "no match for: crypto-crackdown" in out
    assert "Selectors name three new fast bowlers" not in out  # the sidebar trap
    assert "INFO" not in out and "DEBUG" not in first.stderr
    mails = sorted((tmp_path / "demo" / "mail" / "new").iterdir())
    assert len(mails) == 2
    # a long Subject is folded onto the next line; unfolded, it keeps a leading space
    subjects = {str(message_from_bytes(p.read_bytes(), policy=policy.default)["Subject"]).strip()
                for p in mails}
    assert "[newswatch] crypto-mous: Pakistan signs blockchain MoU with a Gulf partner" \
        in subjects
    assert any(s.startswith("[newswatch] 3 new matches: ") for s in subjects), subjects
    assert str(mails[0]) in out or str(mails[1]) in out

    second = run_cli("demo", "--dir", str(tmp_path / "demo"))
    assert second.returncode == 0, second.stderr
    assert "Nothing new this time" in second.stdout
    assert len(list((tmp_path / "demo" / "mail" / "new").iterdir())) == 2


def test_the_demo_config_is_valid(tmp_path: Path) -> None:
    template = Path(__file__).parent.parent / "newswatch" / "cli" / "demo" / "demo.yaml"
    cfg = tmp_path / "demo.yaml"
    cfg.write_text(template.read_text().replace("PORT", "8080"))
    proc = run_cli("check", config=cfg)
    assert proc.returncode == 0, proc.stderr
