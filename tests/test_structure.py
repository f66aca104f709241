"""The house rules, checked on the real code: the import contracts hold (and break when a
stage imports upward), the CLI finds its config as SPEC §3 says and says where it looked
when there is none, each kind of recipient gets its own transport, and the shared parts
(a crawl's database, the extraction workers) belong to whoever opened them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from newswatch.alerts.channels import ChannelTransport
from newswatch.alerts.maildir import MaildirTransport
from newswatch.alerts.registry import transport_for
from newswatch.alerts.smtp import SmtpTransport
from newswatch.alerts.transport import Outgoing, kind, shown
from newswatch.config.loader import load_config
from newswatch.config.models import Alerts
from newswatch.pipeline.pool import ExtractionPool
from newswatch.spiders.runtime import ListFeed, Runtime
from newswatch.store.db import Store
from tests.cli_runner import run_command
from tests.conftest import ROOT, write_config

STAGES = ("config", "spiders", "pipeline", "rules", "store", "alerts")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool is not None, "import-linter is one of the test extras"
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([tool, "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_the_import_contracts_hold_and_a_stage_importing_upward_breaks_them(
        tmp_path: Path) -> None:
    kept = lint_imports(ROOT)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "Contracts: 3 kept, 0 broken." in kept.stdout
    # the same tree (the stage folders still linked into newswatch/) with one upward
    # import: the rule engine reaching for the CLI's tables
    for name in ("newswatch", *STAGES):
        shutil.copytree(ROOT / name, tmp_path / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "rules" / "normalize.py").open("a", encoding="utf-8") as f:
        f.write("\nimport newswatch.cli.tables  # noqa\n")
    broken = lint_imports(tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "newswatch.rules is not allowed to import newswatch.cli:" in broken.stdout
    assert "newswatch.rules.normalize -> newswatch.cli.tables" in broken.stdout
    assert "Contracts: 1 kept, 2 broken." in broken.stdout  # and it makes a cycle


def cli_in(cwd: Path, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    """The CLI run in `cwd` (forked as run_cli's commands are: tests/cli_runner.py), with
    no $NEWSWATCH_CONFIG unless `env` sets one."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("NEWSWATCH_CONFIG", "COLUMNS", "LINES")}
    return run_command(list(args), {**base, **(env or {})}, cwd, timeout=120)


def test_without_a_config_the_cli_says_in_one_line_where_it_looked(tmp_path: Path) -> None:
    proc = cli_in(tmp_path, "check")
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "$NEWSWATCH_CONFIG is not set" in lines[0]
    assert f"no ./config/newswatch.yaml in {tmp_path}" in lines[0]
    # the example it offers is the bundled one, and it is a valid config
    example = Path(lines[0].rsplit("start from the example: ", 1)[1])
    assert example.resolve() == (ROOT / "config" / "newswatch.yaml").resolve()
    assert cli_in(tmp_path, "check", "-c", str(example)).returncode == 0


def test_the_config_is_newswatch_config_else_the_one_in_config(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    write_config(tmp_path / "config", "sources: []\n")  # config/newswatch.yaml
    found = cli_in(tmp_path, "check")
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("config config/newswatch.yaml: OK")
    named = write_config(tmp_path, "sources: []\n")
    chosen = cli_in(tmp_path, "check", env={"NEWSWATCH_CONFIG": str(named)})
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.startswith(f"config {named}: OK")
    gone = cli_in(tmp_path, "check", env={"NEWSWATCH_CONFIG": str(tmp_path / "nope.yaml")})
    assert gone.returncode == 2 and f"{tmp_path / 'nope.yaml'}: cannot read" in gone.stderr


def test_each_kind_of_recipient_has_its_transport(tmp_path: Path) -> None:
    smtp = Alerts.model_validate({"smtp": {"host": "127.0.0.1", "port": 2525,
                                           "security": "none"}})
    maildir = Alerts.model_validate({"maildir": str(tmp_path / "mail")})
    nowhere = Alerts.model_validate({})
    assert kind("desk@example.org") == "email"
    assert kind("json://127.0.0.1:9/hook") == "channel"
    assert isinstance(transport_for("email", smtp), SmtpTransport)
    assert isinstance(transport_for("email", maildir), MaildirTransport)
    assert transport_for("email", nowhere) is None  # the emails wait in the outbox
    assert isinstance(transport_for("channel", nowhere), ChannelTransport)
    assert shown("json://user:secret@127.0.0.1:9/hook/token") == "json://127.0.0.1:9/…"
    transport = transport_for("email", maildir)
    assert transport is not None
    with transport as t:
        said = t.send(Outgoing("a@example.org", "desk@example.org", b"Subject: hi\n\nhello\n"))
    written = Path(said.removeprefix("written to "))
    assert written.parent == tmp_path / "mail" / "new"
    assert written.read_bytes() == b"Subject: hi\n\nhello\n"


def test_a_crawl_runtime_closes_only_the_database_it_opened(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "sources: []\n"))
    with Store(config.database) as given:
        rt = Runtime(config, ListFeed([]), store=given)
        assert rt.store is given
        rt.close()
        assert given.known_keys(["k"]) == set()  # still open: its opener closes it
    own = Runtime(config, ListFeed([]))
    first = own.store
    assert own.store is first  # one database for every part of the crawl
    own.close()
    assert own.store is not first  # closed and let go; a later use opens it again
    own.close()


@pytest.mark.timeout(120)
def test_the_extraction_pool_belongs_to_its_opener_and_closes_once() -> None:
    with ExtractionPool(workers=1).start() as pool:
        assert pool.schedule(len, ("page",), timeout=60).result(timeout=90) == 4
        # a worker's stop path and its finally may both close it, from two threads
        closers = [threading.Thread(target=pool.close) for _ in range(2)]
        for c in closers:
            c.start()
        for c in closers:
            c.join()
        assert not pool.pool.active
    assert not pool.pool.active  # leaving the block closes it again: nothing left to do
