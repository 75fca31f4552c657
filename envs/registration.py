"""The one place where the project's environments are registered with Gymnasium.

``-v0``: the first layouts and the 6-channel grid observation, kept as they were so that old
runs and checkpoints keep their meaning. ``-v1``: the calibrated ladder of layouts and the
Markov observation (``obs_type="markov"``, see ``envs.pacman.env``).
"""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "PacGrid"
ENTRY_POINT = "envs.pacman.env:PacmanEnv"
# version -> id name -> (layout, max_episode_steps); Custom needs layout= in gym.make.
PACMAN_IDS = {
    0: {
        "Tiny": ("tiny", 100),
        "Small": ("small", 500),
        "Medium": ("medium", 1000),
        "Classic": ("classic", 3000),
        "Custom": (None, 1000),
    },
    1: {
        "Tiny": ("tiny-v1", 100),
        "Small": ("small-v1", 2000),
        "Medium": ("medium-v1", 2500),
        "Classic": ("classic-v1", 2000),
        "Custom": (None, 1000),
    },
}
OBS_TYPE = {0: "grid", 1: "markov"}  # each version's default observation


def register_envs() -> list[str]:
    """Register every PacGrid id (skipping ids already registered) and return the ids."""
    ids = []
    for version, names in PACMAN_IDS.items():
        for name, (layout, max_steps) in names.items():
            env_id = f"{NAMESPACE}/{name}-v{version}"
            ids.append(env_id)
            if env_id in gym.registry:
                continue
            gym.register(
                id=env_id,
                entry_point=ENTRY_POINT,
                kwargs={"layout": layout, "obs_type": OBS_TYPE[version]},
                max_episode_steps=max_steps,
            )
    return ids


def pacman_id_settings(env_id: str) -> tuple[str | None, int]:
    """(layout, time limit) of a PacGrid id such as ``PacGrid/Small-v1`` (``envs:`` allowed)."""
    plain = env_id.split(":", 1)[-1]
    for version, names in PACMAN_IDS.items():
        for name, settings in names.items():
            if plain == f"{NAMESPACE}/{name}-v{version}":
                return settings
    known = ", ".join(f"{NAMESPACE}/{name}-v{version}"
                      for version, names in PACMAN_IDS.items() for name in names)
    raise ValueError(f"unknown Pac-Man id {env_id!r}; known ids: {known}")
