"""How well can a player that knows the rules do on a layout? The yardstick for learning agents.

    python scripts/pacman_planner.py --env PacGrid/Small-v1 --depth 3 --games 100
    python scripts/pacman_planner.py --env PacGrid/Medium-v1 --ghosts directional --depth 2
    python scripts/pacman_planner.py --env PacGrid/Small-v1 --player floor

`planner` is depth-limited expectimax over the true game model (envs.pacman.planner): at every
step it looks `depth` Pac-Man moves ahead and weighs every combination of ghost moves by its
exact probability. `floor` walks to the nearest food and ignores the ghosts. A game counts as
won only if the board is cleared within the id's time limit (`--max-steps` overrides it).

Prints ONE JSON object: win rate, mean score and steps, and the settings. Game g is seeded
with seed + g, so the same settings give the same result whatever the number of workers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Literal

if __package__ in (None, ""):  # run as `python scripts/pacman_planner.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envs.pacman.layout import LayoutError
from envs.pacman.planner import play_many
from envs.registration import pacman_id_settings
from rl.config import add_dataclass_args, from_args


@dataclasses.dataclass
class PlannerConfig:
    """Settings of a planner evaluation."""

    # A PacGrid id (its layout and time limit are used), e.g. PacGrid/Small-v1.
    env: str = "PacGrid/Small-v1"
    # A layout name or .lay path instead of the id's (the id's time limit still applies).
    layout: str | None = None
    # Ghost behaviour: random, directional or arcade.
    ghosts: Literal["random", "directional", "arcade"] = "random"
    # Who plays: planner (expectimax with the true model) or floor (nearest food, ghost-blind).
    player: Literal["planner", "floor"] = "planner"
    # Pac-Man moves the planner looks ahead at each step (the cost grows about tenfold per level).
    depth: int = 3
    # Games played.
    games: int = 100
    # Seed of the first game; game g uses seed + g.
    seed: int = 0
    # Weight of the distance to the nearest food in the value of an unfinished position.
    food_weight: float = 2.0
    # A game still running after this many steps counts as not won (none: the id's time limit).
    max_steps: int | None = None
    # Worker processes (one per core is fastest; results do not depend on it).
    workers: int = 1
    # Show a progress bar over the games (on stderr).
    progress: bool = True

    def __post_init__(self) -> None:
        if self.depth < 1 or self.games < 1 or self.workers < 1:
            raise ValueError(f"--depth, --games and --workers must be at least 1, got "
                             f"{self.depth}, {self.games} and {self.workers}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max-steps must be at least 1, got {self.max_steps}")


def evaluate(cfg: PlannerConfig) -> dict:
    """Play the games and summarise them as one JSON-able dict."""
    layout, time_limit = pacman_id_settings(cfg.env)
    layout = cfg.layout or layout
    if layout is None:
        raise ValueError(f"{cfg.env} has no layout of its own; pass --layout NAME_OR_PATH")
    result = play_many(layout, cfg.ghosts, cfg.player, cfg.games, cfg.max_steps or time_limit,
                       seed=cfg.seed, depth=cfg.depth, food_weight=cfg.food_weight,
                       workers=cfg.workers, progress=cfg.progress)
    return {"env": cfg.env, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pacman_planner.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(parser, PlannerConfig)
    args = parser.parse_args(argv)
    try:
        cfg = from_args(PlannerConfig, args)
        result = evaluate(cfg)
    except (ValueError, LayoutError, FileNotFoundError) as err:
        print(f"pacman_planner.py: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
