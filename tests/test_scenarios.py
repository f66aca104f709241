"""Scenario transcripts (tests/scenarios/README.md): each YAML file there is a config,
the state of a local site, and commands with the exact output a person sees at 80
columns. The runner serves the site, runs each command as the CLI, and compares its
output, with what varies from run to run (ports, folders, times) put back as
placeholders. NEWSWATCH_UPDATE_SCENARIOS=1 writes what the commands print into the
files instead, so an intended change of output is a reviewed diff of them."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from tests.conftest import run_cli
from tests.site.scripted import Answer, ScriptedSite
from tests.site.tls import KINDS, LocalCA

HERE = Path(__file__).parent / "scenarios"
UPDATE = os.environ.get("NEWSWATCH_UPDATE_SCENARIOS") == "1"
FILES = sorted(HERE.glob("*.yaml"))

# what varies between runs, as it is written in the expected output
TIMES = [(re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "{date}"),
         (re.compile(r"\b\d{2}:\d{2}(:\d{2})?\b"), "{time}")]


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments and layout survive an update
    yaml.width = 4096
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def normalize(text: str, values: dict[str, str], times: bool) -> str:
    """Output as a scenario writes it: known values back as {placeholders}, trailing
    blanks of each line dropped (tables pad to the width)."""
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[1])):
        text = text.replace(value, "{" + name + "}")
    if times:
        for pattern, placeholder in TIMES:
            text = pattern.sub(placeholder, text)
    return "\n".join(line.rstrip() for line in text.splitlines())


class Scenario:
    def __init__(self, path: Path, tmp: Path, stack: ExitStack):
        self.path = path
        self.data: Any = _yaml().load(path.read_text(encoding="utf-8"))
        self.tmp = tmp
        # one extraction worker: a scenario's pages are few, and a machine running
        # three scenarios at once has no cores to spare
        self.env = {"COLUMNS": "80", "LINES": "50", "TZ": "UTC",
                    "NEWSWATCH_EXTRACT_WORKERS": "1",
                    "XDG_STATE_HOME": str(tmp / "state")}
        self.values = {"dir": str(tmp)}
        sites = self.data.get("sites") or {}
        if "site" in self.data:
            sites = {"site": self.data["site"], **sites}
        ca: LocalCA | None = None
        for name, spec in sites.items():
            spec = dict(spec or {})
            tls = spec.pop("tls", None)
            files = None
            if tls is not None:
                assert tls in KINDS, f"{path.name}: tls must be one of {KINDS}"
                ca = ca or LocalCA(tmp / "tls")
                files = ca.server_files(tls)
            answers = {p: Answer.of(a or {}) for p, a in (spec.get("paths") or {}).items()}
            server = ScriptedSite(answers, files).start()
            stack.callback(server.stop)
            self.values[name] = server.base
        if ca is not None:  # the test CA is trusted: only the certificates' faults show
            self.env["SSL_CERT_FILE"] = str(ca.pem)
        body = str(self.data["config"])
        for name, value in self.values.items():
            body = body.replace("{" + name + "}", value)
        self.config = tmp / "newswatch.yaml"
        self.config.write_text(f"database: {tmp / 'nw.db'}\n" + body, encoding="utf-8")

    def steps(self) -> Iterator[tuple[int, Any]]:
        yield from enumerate(self.data["steps"])

    def run(self, step: Any) -> tuple[int, str, str]:
        args = shlex.split(str(step["command"]))
        proc = run_cli(*args, config=self.config, env=self.env, timeout=60)
        times = bool(step.get("times", True))
        return (proc.returncode, normalize(proc.stdout, self.values, times),
                normalize(proc.stderr, self.values, times))


def _block(text: str) -> Any:
    return LiteralScalarString(text + "\n") if text else ""


Played = tuple[Scenario, list[tuple[int, str, str]]]


def play(path: Path, tmp: Path) -> Played:
    """Run a scenario's steps in order, its sites up for all of them."""
    with ExitStack() as stack:
        scenario = Scenario(path, tmp, stack)
        return scenario, [scenario.run(step) for _, step in scenario.steps()]


class Runs:
    """The scenarios of this test process, played NEWSWATCH_SCENARIO_JOBS (default 3) at
    a time: most of a scenario's time is its commands starting up and waiting for a site
    that hangs or refuses, which overlap well. Under pytest-xdist, whose workers share
    out the tests, each scenario is played when its test asks for it."""

    def __init__(self, pool: ThreadPoolExecutor, tmp: pytest.TempPathFactory):
        self.pool, self.tmp = pool, tmp
        self.futures: dict[Path, Future[Played]] = {}

    def start(self, path: Path) -> Future[Played]:
        if path not in self.futures:
            self.futures[path] = self.pool.submit(play, path, self.tmp.mktemp(path.stem))
        return self.futures[path]


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Runs]:
    jobs = int(os.environ.get("NEWSWATCH_SCENARIO_JOBS", "3"))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        runs = Runs(pool, tmp_path_factory)
        if not os.environ.get("PYTEST_XDIST_WORKER"):
            for item in request.session.items:
                if item.originalname == "test_scenario" and hasattr(item, "callspec"):
                    runs.start(item.callspec.params["path"])
        yield runs


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path: Path, runs: Runs) -> None:
    scenario, results = runs.start(path).result()
    changed = False
    for (i, step), (code, out, err) in zip(scenario.steps(), results, strict=True):
        expected = (str(step.get("output", "")).rstrip("\n"),
                    str(step.get("stderr", "")).rstrip("\n"), step.get("exit", 0))
        if UPDATE:
            if expected != (out, err, code):
                step["exit"], step["output"] = code, _block(out)
                if err or "stderr" in step:
                    step["stderr"] = _block(err)
                changed = True
            continue
        where = f"{path.name}, step {i + 1} `{step['command']}`"
        assert out == expected[0], f"{where}: stdout"
        assert err == expected[1], f"{where}: stderr"
        assert code == expected[2], f"{where}: exit code\n{out}\n{err}"
    if changed:
        with path.open("w", encoding="utf-8") as out_file:
            _yaml().dump(scenario.data, out_file)


def test_every_failure_class_has_a_scenario() -> None:
    """The failure classes of SPEC §14, each with a scenario that names its cause."""
    causes = {
        "refused": "connection refused", "unknown-host": "unknown host",
        "timeout": "timed out after 1 s", "tls-expired": "TLS certificate expired",
        "tls-wrong-host": "TLS certificate for another host",
        "tls-self-signed": "unknown issuer", "http-404": "HTTP 404 Not Found",
        "robots": "disallowed by robots.txt", "too-large": "larger than",
        "html-as-feed": "HTML where a feed should be", "bad-sitemap": "unreadable sitemap",
        "time-limit": "time limit",
    }
    for stem, cause in causes.items():
        path = HERE / f"{stem}.yaml"
        assert path.exists(), f"no scenario {path.name}"
        steps = _yaml().load(path.read_text(encoding="utf-8"))["steps"]
        for command in ("crawl", "crawl -q"):
            shown = [str(s.get("output", "")) for s in steps if s["command"] == command]
            # wrapped at 80 columns, a cause may run onto the next line
            assert shown and all(cause in " ".join(out.split()) for out in shown), \
                (path.name, command)
