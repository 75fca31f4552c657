"""The exact ghost-move distributions, GameState.copy, and the expectimax planner script."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from envs.pacman import ghosts as ghost_behaviours
from envs.pacman.game import Action, GameState, Maze, step
from envs.pacman.layout import load_layout, parse_layout
from scripts import pacman_planner
from scripts.pacman_planner import Planner

CROSS = """\
%%%%%%%%%
%...G...%
%.%%.%%.%
%...P...%
%%%%%%%%%
"""


@pytest.mark.parametrize("name", ["random", "directional", "arcade"])
@pytest.mark.parametrize("scared", [0, 5])
def test_move_probabilities_match_what_the_policies_draw(name, scared):
    maze = Maze(parse_layout(CROSS))
    state = GameState(maze)
    state.scared = [scared]
    options = maze.ghost_moves[state.ghosts[0]][Action.STOP]  # free to leave three ways
    assert len(options) == 3
    probabilities = ghost_behaviours.move_probabilities(name, maze, state, 0, options)
    assert sum(probabilities) == pytest.approx(1.0)
    policy = ghost_behaviours.get_ghost_policy(name)
    rng = np.random.default_rng(0)
    draws = 20_000
    counts = Counter(policy(maze, state, 0, options, rng) for _ in range(draws))
    for option, p in zip(options, probabilities, strict=True):
        # 4 standard errors of a binomial frequency: fails on a wrong distribution
        assert counts[option] / draws == pytest.approx(p, abs=4 * np.sqrt(0.25 / draws) + 1e-9)
    if name == "directional" and not scared:  # south, towards Pac-Man, gets 0.8 + 0.2 / 3
        assert max(probabilities) == pytest.approx(0.8 + 0.2 / 3)


def test_unknown_behaviour_has_no_probabilities():
    maze = Maze(parse_layout(CROSS))
    state = GameState(maze)
    options = maze.ghost_moves[state.ghosts[0]][Action.STOP]
    with pytest.raises(ValueError, match="random, directional, arcade"):
        ghost_behaviours.move_probabilities("sneaky", maze, state, 0, options)


def test_copy_is_independent_of_the_original():
    maze = Maze(load_layout("small"))
    state = GameState(maze)
    twin = state.copy()
    rng = np.random.default_rng(0)
    for _ in range(5):
        step(maze, twin, int(Action.EAST), ghost_behaviours.random_ghost, rng)
    assert state.steps == 0 and state.pacman == maze.pacman_start
    assert state.ghosts == maze.ghost_starts and state.food_left == sum(maze.start_food)
    assert twin.steps == 5 and twin.food_left < state.food_left
    assert {slot: getattr(GameState(maze), slot) for slot in GameState.__slots__} == {
        slot: getattr(state.copy(), slot) for slot in GameState.__slots__}


def test_outcomes_cover_every_ghost_combination_with_their_chances():
    maze = Maze(load_layout("small"))  # two ghosts
    planner = Planner(maze, "random", depth=1, food_weight=2.0)
    state = GameState(maze)
    outcomes = planner.outcomes(state, int(Action.STOP))
    assert sum(p for p, _ in outcomes) == pytest.approx(1.0)
    positions = {tuple(after.ghosts) for _, after in outcomes}
    assert len(positions) == len(outcomes) > 1  # distinct joint ghost moves
    assert all(after.steps == 1 for _, after in outcomes) and state.steps == 0


def test_planner_does_not_walk_into_a_ghost_for_food():
    # The ghost next to the food comes west and cannot turn back: taking the food (east) is
    # caught at once, whatever the ghost's dice; any other move survives this step.
    maze = Maze(parse_layout("%%%%%%%%\n%.. P.G%\n%%%%%%%%\n"))
    state = GameState(maze)
    state.ghost_dirs = [int(Action.WEST)]
    planner = Planner(maze, "random", depth=2, food_weight=2.0)
    assert planner.expected(state, int(Action.EAST), 1) == pytest.approx(-501 + 10)
    for seed in range(5):
        assert planner.act(state, np.random.default_rng(seed)) != Action.EAST


def test_script_prints_results_and_reports_bad_input(capsys):
    assert pacman_planner.main(["--layout", "tiny", "--depth", "2", "--games", "10",
                                "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["games"] == 10 and result["unfinished"] == 0
    assert result["win_rate"] >= 0.8  # one random ghost on the tiny layout: easy with look-ahead
    assert pacman_planner.main(["--depth", "0", "--no-progress"]) == 2
    assert "--depth" in capsys.readouterr().err
    assert pacman_planner.main(["--layout", "no-such-layout", "--no-progress"]) == 2
    assert "no-such-layout" in capsys.readouterr().err
