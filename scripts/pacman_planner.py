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
import functools
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import Literal

import numpy as np
from tqdm import tqdm

if __package__ in (None, ""):  # run as `python scripts/pacman_planner.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envs.pacman.layout import LayoutError
from envs.pacman.planner import GameResult, play_games
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
    """Play the games (in `cfg.workers` processes) and summarise them as one JSON-able dict."""
    layout, time_limit = pacman_id_settings(cfg.env)
    layout = cfg.layout or layout
    if layout is None:
        raise ValueError(f"{cfg.env} has no layout of its own; pass --layout NAME_OR_PATH")
    max_steps = cfg.max_steps or time_limit
    seeds = [[cfg.seed + game] for game in range(cfg.games)]  # one game per task
    play = functools.partial(play_games, layout, cfg.ghosts, cfg.player, max_steps=max_steps,
                             depth=cfg.depth, food_weight=cfg.food_weight)
    start = time.perf_counter()
    bar = tqdm(total=cfg.games, desc=f"{cfg.player} {cfg.env} {cfg.ghosts}",
               disable=not cfg.progress)
    results: list[GameResult] = []
    with ProcessPoolExecutor(cfg.workers) if cfg.workers > 1 else nullcontext() as pool:
        for chunk in (pool.map(play, seeds) if pool else map(play, seeds)):
            results += chunk
            bar.update()
    bar.close()
    return {
        "env": cfg.env, "layout": layout, "ghosts": cfg.ghosts, "player": cfg.player,
        "depth": cfg.depth if cfg.player == "planner" else None, "games": cfg.games,
        "win_rate": sum(result.win for result in results) / cfg.games,
        "mean_score": float(np.mean([result.score for result in results])),
        "mean_steps": float(np.mean([result.steps for result in results])),
        "unfinished": sum(not result.done for result in results),
        "max_steps": max_steps, "food_weight": cfg.food_weight, "seed": cfg.seed,
        "seconds": round(time.perf_counter() - start, 1),
    }


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
