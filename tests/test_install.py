"""What `make demo`, `make test` and the wheel install (SPEC §2, §13 Install): the demo
only the package, the tests the rest besides (with the system packages CI needs), and
the wheel every folder of code and every file the code reads."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import tomllib

import pytest

from tests.conftest import ROOT

TEST_ONLY = ("[test]", "apt-get", "playwright", "chromium", "postgresql", "pytest")


def planned(target: str) -> str:
    """The commands `make TARGET` would run in a fresh clone: -n prints them (and runs
    none), -B as if nothing were installed yet, in a virtualenv that does not exist."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "-n", "-B", target, "VENV=/nonexistent/venv"],
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_demo_installs_the_package_only() -> None:
    plan = planned("demo")
    assert "pip install --quiet -e .\n" in plan
    assert "newswatch demo" in plan
    named = [word for word in TEST_ONLY if word in plan]
    assert named == [], plan


def test_make_test_still_installs_what_ci_needs() -> None:
    plan = planned("test")
    assert "pip install --quiet -e '.[test]'" in plan
    assert "apt-get install -y -qq postgresql" in plan
    assert "apt-get install -y -qq chromium" in plan
    assert "pytest" in plan and "ruff check" in plan and "mypy" in plan


def _setuptools() -> dict[str, object]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return project["tool"]["setuptools"]  # type: ignore[no-any-return]


def test_the_wheel_lists_every_folder_of_code() -> None:
    listed = set(_setuptools()["packages"])  # type: ignore[arg-type]
    tops = {name.split(".")[0] for name in listed}
    found = {str(d.relative_to(ROOT)).replace("/", ".")
             for top in tops for d in [ROOT / top, *(ROOT / top).rglob("*")]
             if d.is_dir() and any(d.glob("*.py"))}
    assert "newswatch.demo" in found
    assert found == listed


def test_the_wheel_holds_every_file_the_code_reads() -> None:
    """Each file besides Python in a package's folder (templates, the demo's site and
    config) matches the package data of the innermost package holding it."""
    setup = _setuptools()
    data: dict[str, list[str]] = setup["package-data"]  # type: ignore[assignment]
    folders = {ROOT / name.replace(".", "/"): name
               for name in setup["packages"]}  # type: ignore[attr-defined]
    missing = []
    for folder in folders:
        for file in folder.rglob("*"):
            if not file.is_file() or file.suffix in (".py", ".pyc") or \
                    "__pycache__" in file.parts:
                continue
            owner = max((f for f in folders if f in file.parents), key=lambda f: len(f.parts))
            if owner != folder:
                continue
            inner = str(file.relative_to(folder))
            if not any(fnmatch.fnmatch(inner, glob) for glob in data.get(folders[folder], [])):
                missing.append(f"{folders[folder]}: {inner}")
    assert "newswatch.demo" in data
    assert missing == []
