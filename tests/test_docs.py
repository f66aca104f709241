"""Every config and query example in the README is valid: documentation that lies is
worse than none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newswatch.config.loader import parse_config_text
from newswatch.rules.matcher import Document, Matcher
from newswatch.rules.query import parse_query, term_sets

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)
YAML_BLOCKS = [body for lang, body in BLOCKS if lang == "yaml"]
QUERIES = [line.split("  #")[0].strip() for lang, body in BLOCKS if lang == "query"
           for line in body.splitlines() if line.strip()]
README_TERMS = {"mou": ["memorandum of understanding", "=MoU", "=MoUs"],
                "pakistan": ["Pakistan", "Pakistani", "Islamabad"]}


def test_the_readme_has_examples() -> None:
    assert len(YAML_BLOCKS) >= 2 and len(QUERIES) >= 15


@pytest.mark.parametrize("body", YAML_BLOCKS)
def test_readme_yaml_examples_are_valid_configs(body: str, tmp_path: Path) -> None:
    # the examples name files of a reader's machine (a CA file in /etc/ssl): their
    # syntax and keys are checked here, what they point at by `check` on that machine
    parse_config_text(body, "README.md", tmp_path, environment=False)


@pytest.mark.parametrize("query", QUERIES)
def test_readme_queries_parse(query: str) -> None:
    parse_query(query, term_sets(README_TERMS))


def test_readme_query_comments_hold() -> None:
    def hits(query: str, **fields: str) -> bool:
        return bool(Matcher([("w", query)], README_TERMS).match(Document.of(**fields)))

    assert hits("crypto-council", text="the Crypto Council met")
    assert hits("crypto*", text="cryptocurrencies fell")
    assert hits("=MoU", text="the MoU's terms") and not hits("=MoU", text="the MOU")
    assert hits("title:bitcoin", title="Bitcoin up", text="x") and \
        not hits("title:bitcoin", title="x", text="bitcoin")
    assert hits("bitcoin", title="", text="Straße BITCOIN") and hits("strasse", text="Straße")


def test_the_grafana_dashboard_uses_only_series_newswatch_serves() -> None:
    import json

    metrics = ROOT / "newswatch" / "service" / "metrics.py"
    served = set(re.findall(r'"(newswatch_[a-z_]+)"', metrics.read_text(encoding="utf-8")))
    # what Prometheus makes of counters and histograms
    served |= {f"{name}{suffix}" for name in served
               for suffix in ("_total", "_bucket", "_count", "_sum")}
    dashboard = json.loads((ROOT / "contrib" / "grafana-newswatch.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"newswatch_[a-z_]+", target["expr"])}
    assert used and used <= served, used - served
    for name in served - {f"{n}{s}" for n in served for s in ("_total", "_bucket", "_count",
                                                               "_sum")}:
        assert f"`{name}" in README, f"{name} is not documented in the README"
