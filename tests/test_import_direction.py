"""The packages import each other in one direction only (see the README's layout section)."""

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
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


# Run in a fresh interpreter: rebuild a saved network from its config with nets alone.
REBUILD = """
import json, sys
import numpy as np
import nets
config, state, obs, out = sys.argv[1:]
net = nets.build(json.loads(open(config).read()))
net.load_state_dict(dict(np.load(state)))
np.save(out, net.forward(np.load(obs)))
assert "agents" not in sys.modules, sorted(name for name in sys.modules if "agents" in name)
"""


def layer_types(config) -> set[str]:
    """Every "type" named in a network config, nested blocks included."""
    if isinstance(config, dict):
        return ({config["type"]} if "type" in config else set()).union(
            *(layer_types(value) for value in config.values()))
    if isinstance(config, list):
        return set().union(*(layer_types(value) for value in config))
    return set()


@pytest.mark.parametrize("window, position, fixed", [(0, False, False), (3, False, False),
                                                     (0, True, False), (3, False, True)])
def test_nets_rebuilds_a_dqn_network_without_importing_agents(tmp_path, window, position, fixed):
    """A DQN's Q-network (stacked grids, centred view, CNN, a window around the agent or its
    place on the board, dueling head) is made of nets layers only, so a model file or
    checkpoint config can be rebuilt without the agent's code."""
    from agents.dqn import DQNConfig, build_q_network

    # 2 stacked frames of 7x9 grids, or one frame with fixed planes (they need one)
    space = gym.spaces.Box(0, 1, (7, 9, 6) if fixed else (2, 7, 9, 6), np.uint8)
    config = DQNConfig(hidden=(16,), conv_channels=(4, 8), conv_strides=(1, 2), dueling=True,
                       center_channel=3, outside_channel=0, agent_window=window,
                       agent_position=position, fixed_planes=fixed)
    planes = np.eye(7, 9, dtype=np.uint8)[..., None] if fixed else None
    net = build_q_network(space, 5, config, np.random.default_rng(0), planes)
    types = layer_types(net.config())
    assert {"ImageInput", "CenteredConv2D", "Conv2D", "DuelingCombine"} <= types
    assert ("AgentWindow" in types) == bool(window)
    assert ("AgentPosition" in types) == position
    assert ("FixedPlanes" in types) == fixed
    rng = np.random.default_rng(1)
    obs = rng.integers(0, 2, size=(3, *space.shape), dtype=np.uint8)
    last = obs.reshape(3, -1, 7, 9, 6)[:, -1]  # a view: the last (or only) frame
    last[..., 3] = 0
    last[np.arange(3), rng.integers(0, 7, 3), rng.integers(0, 9, 3), 3] = 1  # the agent
    paths = [tmp_path / name for name in ("config.json", "state.npz", "obs.npy", "q.npy")]
    paths[0].write_text(json.dumps(net.config()))
    np.savez(paths[1], **net.state_dict())
    np.save(paths[2], obs)
    # `python -c` puts its working folder first on sys.path: this checkout's nets is the one run.
    subprocess.run([sys.executable, "-c", REBUILD, *map(str, paths)], check=True, timeout=60,
                   cwd=ROOT)
    np.testing.assert_array_equal(np.load(paths[3]), net.forward(obs))
