"""The one place where the project's environments are registered with Gymnasium."""

from __future__ import annotations

import gymnasium as gym

NAMESPACE = "PacGrid"
ENTRY_POINT = "envs.pacman.env:PacmanEnv"
# id name -> (layout, default max_episode_steps)
PACMAN_IDS = {
    "Tiny": ("tiny", 100),
    "Small": ("small", 500),
    "Medium": ("medium", 1000),
    "Classic": ("classic", 3000),
    "Custom": (None, 1000),  # layout= must be given to gym.make
}


def register_envs() -> list[str]:
    """Register every PacGrid id (skipping ids already registered) and return the ids."""
    ids = []
    for name, (layout, max_steps) in PACMAN_IDS.items():
        env_id = f"{NAMESPACE}/{name}-v0"
        ids.append(env_id)
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=ENTRY_POINT,
            kwargs={"layout": layout},
            max_episode_steps=max_steps,
        )
    return ids
