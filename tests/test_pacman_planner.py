"""The exact ghost-move distributions, GameState.copy, the expectimax planner and its script."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from envs.pacman import ghosts as ghost_behaviours
from envs.pacman.game import Action, GameState, Maze, step
from envs.pacman.layout import load_layout, parse_layout
from envs.pacman.planner import FoodWalker, Planner, play_game
from scripts import pacman_planner

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
    planner = Planner(maze, "random", depth=1, food_weight=2.0, fast=False)
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
    assert pacman_planner.main(["--env", "PacGrid/Tiny-v1", "--depth", "2", "--games", "10",
                                "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["games"] == 10 and result["unfinished"] == 0
    assert result["win_rate"] >= 0.8  # one random ghost on the tiny layout: easy with look-ahead
    assert pacman_planner.main(["--depth", "0", "--no-progress"]) == 2
    assert "--depth" in capsys.readouterr().err
    assert pacman_planner.main(["--layout", "no-such-layout", "--no-progress"]) == 2
    assert "no-such-layout" in capsys.readouterr().err


def _outcome_table(outcomes):
    """{(ghost cells, headings, scared, score, done): probability} of a list of outcomes."""
    table: dict = {}
    for p, after in outcomes:
        key = (tuple(after.ghosts), tuple(after.ghost_dirs), tuple(after.scared), after.score,
               after.win, after.loss, after.pacman, bytes(after.food), bytes(after.capsules))
        table[key] = table.get(key, 0.0) + p
    return table


@pytest.mark.parametrize("ghosts", ["random", "directional", "arcade"])
def test_ghost_by_ghost_expansion_equals_replaying_the_step(ghosts):
    """The fast expansion gives the same next states with the same chances as game.step."""
    maze = Maze(load_layout("small-v1"))
    fast = Planner(maze, ghosts, depth=1)
    plain = Planner(maze, ghosts, depth=1, fast=False)
    rng = np.random.default_rng(0)
    policy = ghost_behaviours.get_ghost_policy(ghosts)
    state, compared = GameState(maze), 0
    for _ in range(400):
        if state.done:
            state = GameState(maze)
        for action in fast.moves(state):
            expected = _outcome_table(plain.outcomes(state, action))
            # a horizon so far that every ghost can matter: none is skipped
            got = _outcome_table(fast.outcomes(state, action, depth=10**6))
            assert got.keys() == expected.keys()
            for key, p in expected.items():
                assert got[key] == pytest.approx(p, rel=1e-12)
            compared += 1
        step(maze, state, int(rng.integers(5)), policy, rng)
    assert compared > 400


@pytest.mark.parametrize(("layout", "ghosts"), [("small-v1", "random"),
                                                ("small-v1", "directional"),
                                                ("medium-v1", "random"),
                                                ("tiny-v1", "arcade")])
def test_fast_planner_values_and_games_equal_the_plain_search(layout, ghosts):
    """Skipping far ghosts and reusing values changes no value, so no move and no game."""
    maze = Maze(load_layout(layout))
    fast, plain = Planner(maze, ghosts, depth=2), Planner(maze, ghosts, depth=2, fast=False)
    rng = np.random.default_rng(3)
    policy = ghost_behaviours.get_ghost_policy(ghosts)
    state = GameState(maze)
    for _ in range(60):
        if state.done:
            break
        for action in fast.moves(state):
            fast._memo.clear()
            assert fast.expected(state, action, 2) == pytest.approx(
                plain.expected(state, action, 2), rel=1e-9, abs=1e-9)
        step(maze, state, fast.act(state, rng), policy, rng)
    assert play_game(maze, fast, ghosts, 7, 150) == play_game(maze, plain, ghosts, 7, 150)


def test_floor_player_walks_to_the_nearest_food_whatever_the_ghosts():
    maze = Maze(parse_layout("%%%%%%%%\n%.  P .%\n%%%%%%%%\n"))
    state = GameState(maze)
    walker = FoodWalker(maze)
    assert walker.act(state, np.random.default_rng(0)) == Action.EAST  # 2 east vs 3 west


def test_script_runs_games_in_worker_processes_with_the_same_results(capsys):
    argv = ["--env", "PacGrid/Tiny-v1", "--depth", "1", "--games", "6", "--no-progress"]
    assert pacman_planner.main(argv) == 0
    one = json.loads(capsys.readouterr().out)
    assert pacman_planner.main([*argv, "--workers", "2"]) == 0
    two = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in one.items() if k != "seconds"} == {
        k: v for k, v in two.items() if k != "seconds"}
    assert pacman_planner.main(["--env", "PacGrid/Nope-v1", "--no-progress"]) == 2
    assert "known ids" in capsys.readouterr().err


def test_ladder_script_writes_its_table(tmp_path, capsys):
    from scripts import pacman_ladder

    assert pacman_ladder.main(["--games", "2", "--classic-games", "1", "--depth", "1",
                               "--classic-depth", "1", "--workers", "1", "--no-progress",
                               "--out", str(tmp_path)]) == 0
    table = (tmp_path / "ladder.md").read_text()
    assert table in capsys.readouterr().out
    rows = json.loads((tmp_path / "ladder.json").read_text())["rows"]
    assert len(rows) == 4 * 3 * 2  # ids x ghost kinds x players
    assert "| PacGrid/Classic-v1 | planner, depth 1 |" in table
    with pytest.raises(SystemExit):
        pacman_ladder.main(["--games", "0"])
