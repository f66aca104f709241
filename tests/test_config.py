"""Config validation: good files load, bad ones name file, line and key path."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from newswatch.config import ConfigError, load_config
from newswatch.config.units import parse_duration, parse_size
from tests.conftest import ROOT, run_cli


def _load(tmp_path: Path, text: str) -> ConfigError:
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


@pytest.mark.parametrize("text,expected", [
    ("0s", 0), ("30s", 30), ("15m", 900), ("1h", 3600), ("3d", 259200), ("0.5s", 0.5),
    ("250ms", 0.25), ("2w", 1209600),
])
def test_durations(text: str, expected: float) -> None:
    assert parse_duration(text) == timedelta(seconds=expected)


@pytest.mark.parametrize("bad", ["3x", "m", "-1s", "1 hour", ""])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_sizes() -> None:
    assert parse_size("5MB") == 5_000_000
    assert parse_size("2MiB") == 2 * 1024 * 1024
    assert parse_size(100) == 100


def test_example_config_is_valid() -> None:
    config = load_config(ROOT / "config" / "newswatch.yaml")
    assert config.sources and config.watches
    assert config.database.startswith("sqlite:///")
    assert config.database.endswith("data/newswatch.db")


def test_source_overrides_crawl_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent("""\
        crawl: {max_age: 3d, concurrency_per_domain: 4}
        sources:
          - name: a
            feeds: [https://example.com/feed]
            max_age: none
          - name: b
            site: https://example.org/
            every: 15m
        """), encoding="utf-8")
    config = load_config(path)
    a, b = config.sources
    assert a.crawl(config.crawl).max_age is None
    assert a.crawl(config.crawl).concurrency_per_domain == 4
    assert b.crawl(config.crawl).max_age == timedelta(days=3)
    assert b.interval == timedelta(minutes=15)
    assert a.interval == timedelta(hours=1)


def test_relative_database_is_relative_to_the_file(tmp_path: Path) -> None:
    sub = tmp_path / "etc"
    sub.mkdir()
    (sub / "c.yaml").write_text("database: ../var/n.db\n", encoding="utf-8")
    assert load_config(sub / "c.yaml").database == f"sqlite:///{tmp_path / 'var' / 'n.db'}"


def test_every_error_names_file_line_and_key(tmp_path: Path) -> None:
    err = _load(tmp_path, """\
        crawl:
          max_age: 3x
          colour: blue
        sources:
          - name: dawn
            feeds: [https://www.dawn.com/feeds/home]
          - name: Bad Name
            pages: [ftp://example.com/]
            follow:
              allow: ['(']
          - name: dawn
            feeds: [https://example.com/f]
            cron: "99 * * * *"
          - name: empty
        """)
    text = str(err)
    assert "c.yaml:2: crawl.max_age: bad duration '3x'" in text
    assert "c.yaml:3: crawl.colour: unknown key" in text
    assert "c.yaml:7: sources[1].name: bad name 'Bad Name'" in text
    assert "c.yaml:8: sources[1].pages[0]: not an http(s) URL" in text
    assert "c.yaml:10: sources[1].follow.allow[0]: bad regex '('" in text
    assert "c.yaml:11: sources[2].name: duplicate name 'dawn'" in text
    assert "c.yaml:13: sources[2].cron: bad cron expression" in text
    assert "c.yaml:14: sources[3]: a source needs at least one of feeds" in text
    assert len(err.issues) == 8


@pytest.mark.parametrize("text,expected", [
    pytest.param("sources:\n  - name: a\n    feeds: [https://a.example/]\n      every: 1h\n",
                 "c.yaml:4: bad indentation: this line is indented more than the key above "
                 "it allows\n      4 |       every: 1h", id="indented-more"),
    pytest.param("database: a.db\n  timezone: UTC\n",
                 "c.yaml:2: bad indentation: this line is indented more than the key above "
                 "it allows\n      2 |   timezone: UTC", id="indented-under-a-value"),
    pytest.param("alerts:\n    to: [a@b.example]\n  from: x\n",
                 "c.yaml:3: bad indentation: this line lines up with nothing above it (the "
                 "keys of one mapping, and the items of one list, start in the same column)"
                 "\n      3 |   from: x", id="indented-between"),
    pytest.param("sources:\n  name: a\n  - name: b\n",
                 "c.yaml:3: a list item among the keys of a mapping: either every entry here "
                 "starts with '- ' or none does\n      3 |   - name: b", id="item-among-keys"),
    pytest.param("alerts:\n  to: [a@b.example]\n\tfrom: x\n",
                 "c.yaml:3: a tab: YAML indents with spaces only; replace the tab with spaces"
                 "\n      3 | \\tfrom: x", id="tab"),
    pytest.param("watches:\n  - name: a\n    query: '\"crypto council\"\n  - name: b\n",
                 "c.yaml:3: unclosed quote: the ' that opens the value on this line is never "
                 "closed\n      3 |     query: '\"crypto council\"", id="unclosed-quote"),
    pytest.param("watches:\n  - name: a\n    query: 'it's here'\n",
                 "c.yaml:3: text after a closing quote: inside '...' write a quote as '' "
                 "(it''s), or quote the value with the other kind of quotes\n"
                 "      3 |     query: 'it's here'", id="quote-in-quotes"),
    pytest.param("sources:\n  - name: a\n    feeds: [https://a.example/, https://b.example/\n"
                 "    every: 1h\n",
                 "c.yaml:3: unclosed bracket: the [ on this line has no matching ] (or a comma "
                 "is missing between its items)\n"
                 "      3 |     feeds: [https://a.example/, https://b.example/",
                 id="unclosed-bracket"),
    pytest.param("crawl: {obey_robots: true\ndatabase: x\n",
                 "c.yaml:1: unclosed bracket: the { on this line has no matching } (or a comma "
                 "is missing between its items)\n      1 | crawl: {obey_robots: true",
                 id="unclosed-brace"),
    pytest.param("database a.db\ntimezone: UTC\n",
                 "c.yaml:1: missing colon: a key needs ': ' before its value\n"
                 "      1 | database a.db", id="missing-colon"),
    pytest.param("sources:\n  - name: a\n    feeds [https://a.example/]\n    every: 1h\n",
                 "c.yaml:3: missing colon: a key needs ': ' before its value\n"
                 "      3 |     feeds [https://a.example/]", id="missing-colon-in-a-list"),
    pytest.param("database:a.db\ntimezone: UTC\n",
                 "c.yaml:1: missing space after the colon: write 'key: value'\n"
                 "      1 | database:a.db", id="colon-without-space"),
    pytest.param("watches:\n  - name: a\n    query: crypto: council\n",
                 "c.yaml:3: a colon inside a value: put the value in quotes (a colon followed "
                 "by a space starts a key)\n      3 |     query: crypto: council",
                 id="extra-colon"),
    pytest.param("timezone: UTC\ndatabase: a.db\ntimezone: Asia/Karachi\n",
                 "c.yaml:3: duplicate key 'timezone' (first on line 1): a key may be given "
                 "once in a mapping\n      3 | timezone: Asia/Karachi", id="duplicate-key"),
    pytest.param("sources:\n  - name: a\n    feeds: [https://a.example/]\n    name: b\n",
                 "c.yaml:4: duplicate key 'name' (first on line 2): a key may be given once "
                 "in a mapping\n      4 |     name: b", id="duplicate-key-in-a-list"),
])
def test_a_yaml_mistake_is_said_in_plain_words_with_its_line(tmp_path: Path, text: str,
                                                             expected: str) -> None:
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "c.yaml")
    assert [str(i).replace(str(tmp_path) + "/", "") for i in info.value.issues] == [expected]


def test_check_shows_a_yaml_mistake_and_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "newswatch.yaml"
    bad.write_text("database: nw.db\nsources:\n  - name: a\n    feeds: [https://a.example/]\n"
                   "      every: 1h\n", encoding="utf-8")
    proc = run_cli("check", config=bad)
    assert proc.returncode == 2
    assert proc.stderr == (
        "newswatch: 1 error(s) in the config:\n"
        f"  {bad}:5: bad indentation: this line is indented more than the key above it "
        "allows\n      5 |       every: 1h\n")


def test_an_unknown_key_suggests_the_nearest_known_one(tmp_path: Path) -> None:
    err = _load(tmp_path, """\
        sources:
          - name: a
            feeds: [https://a.example/]
            obey_robot: false
        watches:
          - name: w
            query: council
            digets: daily
        alerts:
          smtp: {hots: mail.example}
        crawl:
          colour: blue
        """)
    said = sorted(str(i).replace(str(tmp_path) + "/", "") for i in err.issues)
    # nothing near `colour`: the keys it could have been, all of them
    listed = said.pop(2)
    assert listed.startswith("c.yaml:12: crawl.colour: unknown key; the keys here are: "
                             "user_agent, obey_robots, max_age, ")
    assert listed.endswith(", extract_timeout") or ", extract_timeout, " in listed
    assert said == [
        "c.yaml:10: alerts.smtp.host: Field required",
        "c.yaml:10: alerts.smtp.hots: unknown key; did you mean 'host'?",
        "c.yaml:4: sources[0].obey_robot: unknown key; did you mean 'obey_robots'?",
        "c.yaml:8: watches[0].digets: unknown key; did you mean 'digest'?"]


def test_check_prints_every_error_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("timezone: Mars/Olympus\nsources:\n  - name: x\n    every: soon\n"
                   "    feeds: [https://e.com/f]\n", encoding="utf-8")
    proc = run_cli("check", config=bad)
    assert proc.returncode == 2
    assert "bad.yaml:1: timezone: unknown timezone 'Mars/Olympus'" in proc.stderr
    assert "bad.yaml:4: sources[0].every: bad duration 'soon'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_accepts_and_describes_a_good_config() -> None:
    proc = run_cli("check", config=ROOT / "config" / "newswatch.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "source dawn:" in proc.stdout
    assert "every 15m" in proc.stdout


def test_crawl_with_bad_config_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: 3\n", encoding="utf-8")
    proc = run_cli("crawl", config=bad)
    assert proc.returncode == 2
    assert "bad.yaml:1: sources:" in proc.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    proc = run_cli("check", config=tmp_path / "nope.yaml")
    assert proc.returncode == 2
    assert "nope.yaml" in proc.stderr and "cannot read" in proc.stderr


def test_postgres_urls_are_read_as_postgresql_with_psycopg(tmp_path: Path) -> None:
    for spelling in ("postgres", "postgresql"):
        path = tmp_path / "c.yaml"
        path.write_text(f"database: {spelling}://nw@db.example/news\n", encoding="utf-8")
        assert load_config(path).database == "postgresql+psycopg://nw@db.example/news"


def test_check_refuses_what_would_fail_later(tmp_path: Path) -> None:
    """Each fault in what the config points at is named by `check`, with file, line and
    key, instead of a traceback from `crawl`, `send` or the daemon later."""
    # (the tests run as root, which file modes do not stop: a file in the way it is)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way", encoding="utf-8")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "alert.html").write_text("<p>{% for g in groups %}\n{{ g.name }</p>\n",
                                          encoding="utf-8")
    cases = {
        "database: mysqlish://u@h/db\n": ("database", "not a database URL"),
        f"database: {blocker}/sub/nw.db\n": ("database", "a-file is not a folder"),
        ("alerts:\n  smtp:\n    host: 127.0.0.1\n    ca_file: missing-ca.pem\n"):
            ("alerts.smtp.ca_file", "missing-ca.pem does not exist"),
        f"alerts:\n  templates: {templates}\n": ("alerts.templates", "alert.html:2:"),
        f"alerts:\n  maildir: {blocker}/mail\n": ("alerts.maildir", "a-file is not a folder"),
    }
    for n, (body, (key, words)) in enumerate(cases.items()):
        path = tmp_path / f"c{n}.yaml"
        path.write_text("timezone: UTC\n" + body, encoding="utf-8")
        proc = run_cli("check", config=path)
        assert proc.returncode == 2, (body, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        line = 2 if key == "database" else body.count("\n", 0, body.index(
            key.rsplit(".", 1)[-1] + ":")) + 2
        assert f"{path}:{line}: {key}: " in proc.stderr, proc.stderr
        assert words in proc.stderr, proc.stderr


def test_the_queue_is_a_postgresql_url_and_the_heartbeat_has_bounds(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("queue: postgres://nw@db.example/news\n", encoding="utf-8")
    assert load_config(path).queue == "postgresql+psycopg://nw@db.example/news"
    path.write_text("sources: []\nqueue: redis://cache:6379/0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "c.yaml:2: queue:" in str(err.value) and "PostgreSQL URL" in str(err.value)
    path.write_text("daemon:\n  heartbeat: 2m\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "c.yaml:2: daemon.heartbeat:" in str(err.value)


def test_a_worker_without_a_queue_says_what_it_needs(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("sources: []\n", encoding="utf-8")
    proc = run_cli("worker", config=path)
    assert proc.returncode == 2
    assert "sets no `queue:`" in proc.stderr and "newswatch run" in proc.stderr
