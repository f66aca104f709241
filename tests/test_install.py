"""What `make demo`, `make test` and the wheel install (SPEC §2, §13 Install): the demo
only the package, the tests the rest besides (with the system packages CI needs), and
the wheel every folder of code and every file the code reads."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.venvs import seeded_venv, wheel_requires

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


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel .` builds from this tree, as CI and pipx would: built once
    for the test run, whichever pytest-xdist worker asks first (the others wait on the
    lock, then take the same file)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's is a folder in the run's one
        shared = shared.parent
    with (shared / "wheel.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = shared / "wheel"
        built = sorted(out.glob("newswatch-*.whl"))
        if not built:
            out.mkdir(exist_ok=True)
            # setuptools builds in the tree: leave it clean
            litter = not (ROOT / "build").exists()
            done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                                   "-w", str(out), str(ROOT)],
                                  capture_output=True, text=True, timeout=600)
            if litter:
                shutil.rmtree(ROOT / "build", ignore_errors=True)
            assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
            built = sorted(out.glob("newswatch-*.whl"))
    [whl] = built
    return whl


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
    """SPEC §13 Install: the built wheel, installed in a new virtualenv and run from an
    empty folder (no source tree in reach), gives a working `newswatch demo`. Its
    dependencies are this environment's copies of those the wheel declares, and theirs
    (tests/venvs.py: installing them again was most of the test's time)."""
    # nothing of the source tree: pip would see the tree's newswatch as installed already
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NEWSWATCH_CONFIG")}
    venv = tmp_path / "venv"
    site = seeded_venv(venv, wheel_requires(wheel))
    pip = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                          "install", "-q", "--no-deps", "--no-index", str(wheel)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    home = tmp_path / "empty"
    home.mkdir()
    demo = subprocess.run([str(venv / "bin" / "newswatch"), "demo"], cwd=home, env=env,
                          capture_output=True, text=True, timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "what matched, and why:" in demo.stdout
    assert "Traceback" not in demo.stdout + demo.stderr
    assert any((home / "data" / "demo" / "mail" / "new").iterdir())
    # what ran was the wheel's copy, with nothing of the test environment's beyond the
    # declared dependencies
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import newswatch, importlib.util as u; print(newswatch.__file__);"
                            "print(u.find_spec('psycopg'), u.find_spec('pytest'))"],
                           cwd=home, env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.splitlines() == [f"{site}/newswatch/__init__.py", "None None"], \
        where.stdout + where.stderr
