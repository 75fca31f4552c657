"""The difficulty ladder of the -v1 layouts: planner and floor win rates for every ghost kind.

    python scripts/pacman_ladder.py                    # the README's table (about 20 min)
    python scripts/pacman_ladder.py --games 10 --classic-games 4   # a quick look

For each PacGrid id (Tiny, Small, Medium, Classic -v1) and ghost behaviour (random,
directional, arcade) it plays the expectimax planner (envs.pacman.planner, the heuristic at its
default, the step limit equal to the id's time limit) and the ghost-blind floor player that
walks to the nearest food. It writes `ladder.json` and `ladder.md` (a Markdown table) to
`--out` and prints the table. A calibrated ladder keeps the planner at ≥ 90% on Tiny, Small
and Medium (≥ 70% on Classic) with random ghosts, and the floor at ≤ 10% on all but Tiny.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python scripts/pacman_ladder.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from envs.pacman.ghosts import GHOST_POLICIES
from envs.pacman.planner import PLAYERS, play_many
from envs.registration import pacman_id_settings
from fileio import write_json
from rl.config import add_dataclass_args, from_args

LADDER = ("PacGrid/Tiny-v1", "PacGrid/Small-v1", "PacGrid/Medium-v1", "PacGrid/Classic-v1")


@dataclasses.dataclass
class LadderConfig:
    """Settings of the ladder table."""

    # Games per cell on Tiny, Small and Medium.
    games: int = 100
    # Games per cell on Classic (its games are the longest).
    classic_games: int = 30
    # Planner look-ahead on Tiny, Small and Medium.
    depth: int = 3
    # Planner look-ahead on Classic.
    classic_depth: int = 2
    # Worker processes (one per core).
    workers: int = 2
    # Folder for ladder.json and ladder.md.
    out: str = "runs/ladder"
    # Show a progress bar per cell (on stderr).
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("games", "classic_games", "depth", "classic_depth", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, "
                                 f"got {getattr(self, name)}")


def markdown(rows: list[dict]) -> str:
    """One line per id and player, one column per ghost behaviour: win rate (games)."""
    lines = ["| id | player | " + " | ".join(f"{ghosts} ghosts" for ghosts in GHOST_POLICIES)
             + " | time limit |",
             "|---|---|" + "---|" * len(GHOST_POLICIES) + "---|"]
    for env_id in LADDER:
        for player in PLAYERS:
            cells = {row["ghosts"]: row for row in rows
                     if row["env"] == env_id and row["player"] == player}
            if not cells:
                continue
            first = next(iter(cells.values()))
            name = f"planner, depth {first['depth']}" if player == "planner" else "floor"
            rates = [f"{cells[g]['win_rate']:.0%} ({cells[g]['games']})" if g in cells else "—"
                     for g in GHOST_POLICIES]
            lines.append(f"| {env_id} | {name} | " + " | ".join(rates)
                         + f" | {first['max_steps']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pacman_ladder.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataclass_args(parser, LadderConfig)
    try:
        cfg = from_args(LadderConfig, parser.parse_args(argv))
    except ValueError as err:
        parser.error(str(err))
    start = time.perf_counter()
    rows = []
    for env_id in LADDER:
        layout, time_limit = pacman_id_settings(env_id)
        classic = env_id == LADDER[-1]
        for ghosts in GHOST_POLICIES:
            for player in PLAYERS:
                row = play_many(layout, ghosts, player,
                                cfg.classic_games if classic else cfg.games, time_limit,
                                depth=cfg.classic_depth if classic else cfg.depth,
                                workers=cfg.workers, progress=cfg.progress)
                rows.append({"env": env_id, **row})
    table = markdown(rows)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    minutes = (time.perf_counter() - start) / 60
    write_json(out / "ladder.json", {"rows": rows, "minutes": round(minutes, 1),
                                     "config": dataclasses.asdict(cfg)})
    (out / "ladder.md").write_text(table, encoding="utf-8")
    print(table)
    print(f"{minutes:.1f} min; wrote {out / 'ladder.json'} and {out / 'ladder.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
