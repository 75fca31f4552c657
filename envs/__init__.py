"""Gymnasium environments that ship with the project: the Pac-Man-like grid game.

Importing this package registers the ids ``PacGrid/Tiny-v0``, ``PacGrid/Small-v0``,
``PacGrid/Medium-v0``, ``PacGrid/Classic-v0`` and ``PacGrid/Custom-v0`` (``layout=`` a name
or a path), so ``gym.make("envs:PacGrid/Small-v0")`` works without a separate import.
"""

from envs.registration import register_envs

ENV_IDS = register_envs()

__all__ = ["ENV_IDS"]
