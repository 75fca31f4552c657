"""The packages import each other in one direction only (see the README's layout section)."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"fileio", "nets", "supervised", "envs", "rl", "agents", "scripts"}

# package -> the project packages it may import (besides itself)
ALLOWED = {
    "fileio": set(),
    "nets": {"fileio"},
    "supervised": {"fileio", "nets"},  # the MNIST path: beside the RL path, sharing only nets
    "envs": set(),
    "rl": {"fileio", "nets"},
    "agents": {"fileio", "nets", "rl"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_allowed_packages(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    offenders = []
    for path in files:
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top in PROJECT and top != package and top not in ALLOWED[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_rl_and_agents_never_import_the_supervised_path():
    offenders = [f"{path.relative_to(ROOT)} imports {name}"
                 for package in ("rl", "agents") for path in sorted((ROOT / package).rglob("*.py"))
                 for name in imported_modules(path) if name.split(".")[0] == "supervised"]
    assert not offenders, "\n".join(offenders)


def test_every_library_package_has_a_rule_and_is_installed():
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - {"scripts"}
    assert packages == set(ALLOWED), "give the new package a rule here"
    assert set(ALLOWED) | {"scripts"} == PROJECT
    # `pip install -e .` (make demo, make test) installs what pyproject.toml lists.
    match = re.search(r"^include = \[(.*)\]$", (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "pyproject.toml has no [tool.setuptools.packages.find] include list"
    assert set(re.findall(r'"(\w+)\*"', match.group(1))) == packages


def test_checker_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import numpy as np\nfrom agents.dqn import DQN\nimport rl.replay\n")
    found = imported_modules(sample)
    assert "agents.dqn" in found and "rl.replay" in found and "numpy" in found
