"""The packages import each other in one direction only (see the README's layout section)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"nets", "envs", "rl", "agents", "scripts"}

# package -> project packages it must never import
FORBIDDEN = {
    "nets": {"envs", "rl", "agents", "scripts"},
    "envs": {"nets", "rl", "agents", "scripts"},
    "rl": {"agents", "envs", "scripts"},
    "agents": {"scripts"},
}
# Supervised-learning modules that RL code must not depend on.
SUPERVISED = {"nets.datasets", "nets.trainer"}


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


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_allowed_packages(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    offenders = []
    for path in files:
        for name in imported_modules(path):
            top = name.split(".")[0]
            if top in FORBIDDEN[package]:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
            if package in {"rl", "agents"} and any(
                name == s or name.startswith(s + ".") for s in SUPERVISED
            ):
                offenders.append(f"{path.relative_to(ROOT)} imports supervised module {name}")
    assert not offenders, "\n".join(offenders)


def test_checker_sees_a_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import numpy as np\nfrom agents.dqn import DQN\nimport rl.replay\n")
    found = imported_modules(sample)
    assert "agents.dqn" in found and "rl.replay" in found and "numpy" in found
