"""New virtualenvs that see the installed copies of what a package declares it needs,
instead of downloading and installing them again (most of the time of a test that
installs newswatch from nothing): only the declared dependencies and theirs, each linked
into one folder that the new virtualenv's site-packages names. A dependency this
environment lacks fails the test, with its name."""

from __future__ import annotations

import email
import importlib.metadata
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path


def wheel_requires(wheel: Path) -> list[str]:
    """The Requires-Dist lines of a built wheel."""
    with zipfile.ZipFile(wheel) as whl:
        [meta] = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(whl.read(meta)).get_all("Requires-Dist") or []


def project_requires(pyproject: Path) -> list[str]:
    """The [project] dependencies of a pyproject.toml (no extras)."""
    return list(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
                ["dependencies"])


def closure(wanted: list[str]) -> list[importlib.metadata.Distribution]:
    """The installed distributions `wanted` (requirement strings, installed without
    extras) needs, and theirs, as pip would resolve them on this Python."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    found: dict[str, importlib.metadata.Distribution] = {}
    done: set[tuple[str, str]] = set()
    todo = [(Requirement(r), "") for r in wanted]
    while todo:
        req, context = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": context}):
            continue
        name = canonicalize_name(req.name)
        if name not in found:
            found[name] = importlib.metadata.distribution(req.name)
        for extra in ["", *sorted(req.extras)]:
            if (name, extra) not in done:
                done.add((name, extra))
                todo += [(Requirement(r), extra) for r in found[name].requires or []]
    return list(found.values())


def seeded_venv(venv: Path, wanted: list[str], with_pip: bool = False) -> Path:
    """A new virtualenv at `venv` whose site-packages sees the installed distributions
    `wanted` needs (and nothing else of this environment); its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", *([] if with_pip else ["--without-pip"]),
                    str(venv)], check=True, timeout=300, capture_output=True)
    deps = venv.parent / f"{venv.name}-deps"
    deps.mkdir()
    for dist in closure(wanted):
        for top in {Path(str(f)).parts[0] for f in dist.files or []} - {".."}:
            there = Path(str(dist.locate_file(top)))
            if there.exists() and not (deps / top).exists() and not top.endswith(".pth"):
                (deps / top).symlink_to(there)
    [site] = (venv / "lib").glob("python3*/site-packages")
    (site / "deps.pth").write_text(f"{deps}\n", encoding="utf-8")
    return site
