"""What `make demo`, `make test` and the wheel install (SPEC §2, §13 Install): the demo
only the package, the tests the rest besides (with the system packages CI needs), and
the wheel every folder of code and every file the code reads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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


STAGES = ("config", "spiders", "pipeline", "rules", "store", "alerts")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from this tree, as CI and pipx would."""
    out = tmp_path_factory.mktemp("wheel")
    litter = not (ROOT / "build").exists()  # setuptools builds in the tree: leave it clean
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    if litter:
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [built] = out.glob("newswatch-*.whl")
    return built


def test_the_wheel_claims_one_import_name(wheel: Path) -> None:
    """Nothing of newswatch lands in site-packages as `config`, `store` or `rules`."""
    with zipfile.ZipFile(wheel) as whl:
        tops = {name.split("/")[0] for name in whl.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"newswatch"}


def test_the_wheel_holds_every_file_of_the_code(wheel: Path) -> None:
    """Every file git tracks in the code's folders (modules, templates, the demo's site
    and config, the migrations) is in the wheel, the stage folders under newswatch/."""
    tracked = subprocess.run(["git", "ls-files", "newswatch", *STAGES], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    expected = {name if name.startswith("newswatch/") else f"newswatch/{name}"
                for name in tracked if not (ROOT / name).is_symlink()}
    with zipfile.ZipFile(wheel) as whl:
        held = set(whl.namelist())
    assert "newswatch/cli/demo/articles.yaml" in expected
    assert sorted(expected - held) == []


@pytest.mark.slow
def test_the_wheel_runs_the_demo_from_a_fresh_virtualenv(wheel: Path, tmp_path: Path) -> None:
    """SPEC §13 Install: the built wheel, installed alone in a new virtualenv and run
    from an empty folder (no source tree in reach), gives a working `newswatch demo`."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
                         capture_output=True, text=True, timeout=1200)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    home = tmp_path / "empty"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NEWSWATCH_CONFIG")}
    demo = subprocess.run([str(venv / "bin" / "newswatch"), "demo"], cwd=home, env=env,
                          capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "what matched, and why:" in demo.stdout
    assert "Traceback" not in demo.stdout + demo.stderr
    assert any((home / "data" / "demo" / "mail" / "new").iterdir())
