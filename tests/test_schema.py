"""`newswatch schema`: the JSON Schema an editor uses to check newswatch.yaml accepts
the shipped configs and catches what the loader catches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    proc = run_cli("schema")
    assert proc.returncode == 0, proc.stderr
    loaded: dict[str, Any] = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(loaded)
    return loaded


def _yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8").replace("PORT", "8080"))


@pytest.mark.parametrize("path", ["config/newswatch.yaml", "newswatch/cli/demo/demo.yaml"])
def test_the_shipped_configs_pass_the_schema(schema: dict[str, Any], path: str) -> None:
    jsonschema.validate(_yaml(ROOT / path), schema)


@pytest.mark.parametrize("bad", [
    {"sources": [{"name": "x", "feeds": ["https://a.example/f"], "evry": "1h"}]},
    {"crawl": {"max_age": "3 days"}},
    {"crawl": {"max_page_size": "lots"}},
    {"watches": [{"name": "Bad Name", "query": "x"}]},
    {"alerts": {"smtp": {"host": "h", "security": "ssl"}}},
])
def test_the_schema_catches_mistakes(schema: dict[str, Any], bad: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_durations_are_written_as_in_yaml(schema: dict[str, Any]) -> None:
    crawl = schema["$defs"]["CrawlOptions"]["properties"]
    assert crawl["max_age"]["default"] == "3d"
    jsonschema.validate({"crawl": {"max_age": "none", "timeout": "30s",
                                   "max_page_size": "5MB"}}, schema)
