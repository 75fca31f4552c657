"""The game rules by hand-made scenario, with scripted ghosts so every move is known."""

import numpy as np
import pytest

from envs.pacman import ghosts as ghost_behaviours
from envs.pacman.game import (
    SCARED_TIME,
    Action,
    GameState,
    Maze,
    step,
)
from envs.pacman.layout import parse_layout

N, S, E, W, STOP = Action.NORTH, Action.SOUTH, Action.EAST, Action.WEST, Action.STOP


def new_game(text: str) -> tuple[Maze, GameState]:
    maze = Maze(parse_layout(text))
    return maze, GameState(maze)


def scripted(*directions: int):
    """A ghost policy (one ghost) that takes the given directions in turn, then stays put."""
    queue = list(directions)

    def policy(maze, state, index, options, rng):
        direction = queue.pop(0) if queue else STOP
        return int(direction), maze.next_cell[state.ghosts[index]][direction]

    return policy


def play(maze, state, actions, policy):
    rng = np.random.default_rng(0)
    return [step(maze, state, int(action), policy, rng) for action in actions]


def cell(maze, row, col):
    return maze.cell_of(row, col)


def test_each_step_costs_one_point():
    maze, state = new_game("%%%%%%\n%P  G%\n%%%%%%\n")
    assert play(maze, state, [STOP, STOP], scripted()) == [-1, -1]
    assert state.score == -2 and state.steps == 2 and not state.done


def test_bumping_into_a_wall_leaves_pacman_in_place():
    maze, state = new_game("%%%%%\n%P .%\n%%%%%\n")
    start = state.pacman
    assert play(maze, state, [N, S, W], scripted()) == [-1, -1, -1]
    assert state.pacman == start
    assert play(maze, state, [E], scripted()) == [-1]
    assert state.pacman == cell(maze, 1, 2)


def test_food_is_worth_ten_and_clearing_the_board_wins_500():
    maze, state = new_game("%%%%%%\n%P..G%\n%%%%%%\n")
    assert play(maze, state, [E], scripted()) == [10 - 1]
    assert state.food_left == 1 and not state.food[cell(maze, 1, 2)]
    assert play(maze, state, [E], scripted()) == [10 + 500 - 1]
    assert state.win and state.done and not state.loss
    assert state.score == 9 + 509


def test_a_ghost_stepping_onto_pacman_costs_500_and_ends_the_game():
    maze, state = new_game("%%%%%%\n%P G.%\n%%%%%%\n")
    policy = scripted(W, W)
    assert play(maze, state, [STOP], policy) == [-1]
    assert play(maze, state, [STOP], policy) == [-500 - 1]
    assert state.loss and state.done and not state.win
    assert state.ghosts[0] == state.pacman


def test_pacman_stepping_onto_a_ghost_is_caught():
    maze, state = new_game("%%%%%\n%PG.%\n%%%%%\n")
    assert play(maze, state, [E], scripted()) == [-501]
    assert state.loss


def test_swapping_cells_with_a_ghost_is_a_collision():
    maze, state = new_game("%%%%%%\n%.PG.%\n%%%%%%\n")
    assert play(maze, state, [E], scripted(W)) == [-501]
    assert state.loss
    assert state.pacman == cell(maze, 1, 3)


def test_passing_side_by_side_is_no_collision():
    maze, state = new_game("%%%%%%\n%P . %\n% %%G%\n%    %\n%%%%%%\n")
    # Pac-Man goes east along the top while the ghost goes south: never the same cell.
    assert play(maze, state, [E], scripted(S)) == [-1]
    assert not state.done


def test_capsule_scares_every_ghost_for_40_moves():
    maze, state = new_game("%%%%%%%%%%%\n%Po      G%\n%        G%\n%%%%%%%%%%%\n")
    assert play(maze, state, [E], scripted()) == [-1]  # a capsule itself scores nothing
    assert not state.capsules[cell(maze, 1, 2)]
    assert state.scared == [SCARED_TIME - 1] * 2  # the ghosts already made one scared move
    for moves in range(2, SCARED_TIME + 1):
        play(maze, state, [STOP], scripted())
        assert state.scared == [SCARED_TIME - moves] * 2
    assert state.scared == [0, 0] and SCARED_TIME == 40


def test_eating_a_scared_ghost_gives_200_and_sends_it_home():
    maze, state = new_game("%%%%%%%%\n%Po.  G%\n%.     %\n%%%%%%%%\n")
    home = state.ghosts[0]
    policy = scripted(W, W)
    assert play(maze, state, [E, E], policy) == [-1, 10 - 1]
    assert state.ghosts[0] == cell(maze, 1, 4) and state.scared[0] > 0
    assert play(maze, state, [E], policy) == [200 - 1]
    assert state.ghosts[0] == home
    assert state.scared[0] == 0 and state.ghost_dirs[0] == STOP
    assert not state.done


def test_a_ghost_caught_by_the_last_food_does_not_lose():
    # Pac-Man eats the last food on the cell a ghost moves into: the win ends the step first.
    maze, state = new_game("%%%%%\n%P.G%\n%%%%%\n")
    assert play(maze, state, [E], scripted(W)) == [10 + 500 - 1]
    assert state.win and not state.loss


def test_a_ghost_sent_home_onto_pacman_catches_him():
    maze, state = new_game("%%%%%%\n%Po G%\n%.   %\n%%%%%%\n")
    home = state.ghosts[0]
    # Pac-Man takes the capsule and walks onto the ghost's start while it circles below.
    policy = scripted(S, W, E, N)
    assert play(maze, state, [E, E, E], policy) == [-1, -1, -1]
    assert state.pacman == home and state.scared[0] > 0
    assert play(maze, state, [STOP], policy) == [200 - 500 - 1]  # eaten, sent home: caught
    assert state.loss and state.ghosts[0] == home == state.pacman


def test_ghosts_never_turn_back_unless_at_a_dead_end():
    maze = Maze(parse_layout("%%%%%%\n%P  G%\n%%%% %\n%%%%%%\n"))
    middle, end = maze.cell_of(1, 2), maze.cell_of(1, 4)
    assert [d for d, _ in maze.ghost_moves[middle][E]] == [E]
    assert [d for d, _ in maze.ghost_moves[middle][W]] == [W]
    assert sorted(d for d, _ in maze.ghost_moves[middle][STOP]) == sorted([E, W])
    assert [d for d, _ in maze.ghost_moves[end][N]] == [W]  # came back out of the dead end
    dead_end = maze.cell_of(2, 4)
    assert [d for d, _ in maze.ghost_moves[dead_end][S]] == [N]


JUNCTION = """\
%%%%%%%%%
%P      %
%%%% %%%%
%%%% %%%%
%%%%G%%%%
%%%%%%%%%
"""


def ghost_at_junction(last_direction=N, scared=0):
    """A ghost arriving at a T junction from the south; Pac-Man is at the west end."""
    maze, state = new_game(JUNCTION)
    state.ghosts[0] = maze.cell_of(1, 4)
    state.ghost_dirs[0] = last_direction
    state.scared[0] = scared
    return maze, state, maze.ghost_moves[state.ghosts[0]][last_direction]


def choice_frequencies(policy, maze, state, options, draws=3000):
    rng = np.random.default_rng(7)
    counts = dict.fromkeys((d for d, _ in options), 0)
    for _ in range(draws):
        direction, _ = policy(maze, state, 0, options, rng)
        counts[direction] += 1
    return {d: count / draws for d, count in counts.items()}


def test_random_ghost_is_uniform_over_allowed_moves():
    maze, state, options = ghost_at_junction()
    assert sorted(d for d, _ in options) == sorted([E, W])
    frequencies = choice_frequencies(ghost_behaviours.random_ghost, maze, state, options)
    assert frequencies[E] == pytest.approx(0.5, abs=0.04)


@pytest.mark.parametrize(("scared", "wanted"), [(0, W), (10, E)])
def test_directional_ghost_chases_or_flees_with_probability_0_8(scared, wanted):
    maze, state, options = ghost_at_junction(scared=scared)
    frequencies = choice_frequencies(ghost_behaviours.directional_ghost, maze, state, options)
    # 0.8 for the best move, plus half of the 0.2 spent uniformly.
    assert frequencies[wanted] == pytest.approx(0.9, abs=0.03)


def test_arcade_phases_alternate_scatter_and_chase_then_chase_forever():
    in_scatter = ghost_behaviours.arcade_in_scatter
    assert all(in_scatter(m) for m in range(7))
    assert not any(in_scatter(m) for m in range(7, 27))
    assert in_scatter(27) and not in_scatter(34)
    assert not any(in_scatter(m) for m in range(84, 500))


def open_arena_game() -> tuple[Maze, GameState]:
    rows = ["%" * 30] + ["%" + " " * 28 + "%" for _ in range(20)] + ["%" * 30]
    rows[10] = "%" + " " * 14 + "P" + " " * 13 + "%"
    rows[2] = "%" + " 1 2 3 4" + " " * 20 + "%"
    return new_game("\n".join(rows) + "\n")


def test_arcade_chase_targets():
    maze, state = open_arena_game()
    target = ghost_behaviours.arcade_target
    state.steps = 1  # first move: scatter, each heads for its own corner
    corners = [(0, 29), (0, 0), (21, 29), (21, 0)]
    assert [target(maze, state, i) for i in range(4)] == corners

    state.steps = 200  # long past the scatter phases
    state.pacman = maze.cell_of(10, 15)
    state.pacman_dir = E
    state.ghosts[0] = maze.cell_of(4, 5)
    assert target(maze, state, 0) == (10, 15)  # chaser: Pac-Man's cell
    assert target(maze, state, 1) == (10, 19)  # ambusher: 4 ahead
    assert target(maze, state, 2) == (2 * 10 - 4, 2 * 17 - 5)  # flanker: mirror of the chaser
    state.ghosts[3] = maze.cell_of(2, 8)
    assert target(maze, state, 3) == (10, 15)  # shy, far away: chase
    state.ghosts[3] = maze.cell_of(12, 14)
    assert target(maze, state, 3) == corners[3]  # shy, close: retreat to its corner


def test_arcade_ghost_takes_the_move_nearest_its_target():
    maze, state = open_arena_game()
    state.steps = 200
    state.pacman = maze.cell_of(10, 15)
    state.ghosts[0] = maze.cell_of(10, 10)
    state.ghost_dirs[0] = STOP
    options = maze.ghost_moves[state.ghosts[0]][STOP]
    rng = np.random.default_rng(0)
    assert ghost_behaviours.arcade_ghost(maze, state, 0, options, rng)[0] == E
    state.scared[0] = 5  # scared: a random allowed move instead
    seen = {ghost_behaviours.arcade_ghost(maze, state, 0, options, rng)[0] for _ in range(50)}
    assert seen == {N, S, E, W}


def test_unknown_ghost_behaviour_lists_the_choices():
    with pytest.raises(ValueError, match="random, directional, arcade"):
        ghost_behaviours.get_ghost_policy("sneaky")
