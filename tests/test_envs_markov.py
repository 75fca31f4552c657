"""The -v1 observation is Markov: decode(obs) rebuilds every field the rules read.

The same checks run on the 6-channel -v0 grid must fail (it hides headings, identities and
timers); tests below show that they do.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
from envs.pacman.env import PacmanEnv, grid_from_state
from envs.pacman.game import SCARED_TIME, Action, GameState, Maze, step
from envs.pacman.ghosts import get_ghost_policy
from envs.pacman.layout import load_layout, parse_layout
from envs.pacman.observation import ARCADE_CLOCK, DecodedState, MarkovEncoder, decode

# Two ghosts side by side with separate start cells, capsules to scare them: every hidden field
# (identity, heading, timer) changes often in random play.
TWO_GHOSTS = """\
%%%%%%%%%%%
%o...P...o%
%.%%.%.%%.%
%...G.G...%
%.%%.%.%%.%
%o.......o%
%%%%%%%%%%%
"""


def random_states(maze: Maze, ghosts: str, steps: int, seed: int):
    """States met in random play (restarting after each game), with their true hidden fields."""
    rng = np.random.default_rng(seed)
    policy = get_ghost_policy(ghosts)
    state = GameState(maze)
    for _ in range(steps):
        yield state
        step(maze, state, int(rng.integers(5)), policy, rng)
        if state.done:
            yield state
            state = GameState(maze)


@pytest.mark.parametrize("ghosts", ["random", "directional", "arcade"])
@pytest.mark.parametrize("layout", [TWO_GHOSTS, "small-v1", "medium-v1"])
def test_decode_rebuilds_every_field_the_rules_read(layout, ghosts):
    maze = Maze(parse_layout(layout) if "\n" in layout else load_layout(layout))
    arcade = ghosts == "arcade"
    encoder = MarkovEncoder(maze, arcade)
    seen_scared = seen_heading = 0
    for state in random_states(maze, ghosts, 3000, seed=1):
        if state.loss:  # caught mid-move: the later ghosts' timers were not counted down, and
            continue    # a finished game has no next step for the observation to predict
        assert decode(encoder.encode(state), maze) == DecodedState.of(state, arcade)
        seen_scared += any(state.scared)
        seen_heading += any(state.ghost_dirs)
    assert seen_heading > 0  # the hidden fields were really exercised
    assert seen_scared > 0 or layout != TWO_GHOSTS  # random play rarely finds a far capsule


def test_arcade_clock_saturates_where_the_schedule_ends():
    maze = Maze(parse_layout(TWO_GHOSTS))
    encoder = MarkovEncoder(maze, arcade=True)
    state = GameState(maze)
    for steps, clock in [(0, 0), (83, 83), (84, ARCADE_CLOCK), (500, ARCADE_CLOCK)]:
        state.steps = steps
        assert decode(encoder.encode(state), maze).clock == clock


def _adversarial_pairs(maze: Maze):
    """Pairs of states that differ only in a field the 6-channel grid does not show."""
    base = GameState(maze)
    base.pacman = maze.cell_of(5, 1)
    first, second = base.ghosts  # (3, 4) and (3, 6)

    swapped = base.copy()
    swapped.ghosts = [second, first]  # same cells, identities swapped
    yield "identities swapped", base, swapped

    scared_two, scared_three = base.copy(), base.copy()
    scared_two.scared = [2, 2]
    scared_three.scared = [3, 3]
    yield "timers 2 vs 3", scared_two, scared_three

    east, west = base.copy(), base.copy()
    east.ghosts = west.ghosts = [maze.cell_of(3, 2), second]
    east.ghost_dirs = [int(Action.EAST), int(Action.STOP)]
    west.ghost_dirs = [int(Action.WEST), int(Action.STOP)]
    yield "headings reversed", east, west

    one_scared, other_scared = base.copy(), base.copy()
    one_scared.ghosts = other_scared.ghosts = [first, first]  # both on one cell
    one_scared.scared = [SCARED_TIME, 0]
    other_scared.scared = [0, SCARED_TIME]
    yield "which of two ghosts on one cell is scared", one_scared, other_scared


def _check_pairs_told_apart(observe) -> None:
    maze = Maze(parse_layout(TWO_GHOSTS))
    for name, one, other in _adversarial_pairs(maze):
        assert not np.array_equal(observe(maze, one), observe(maze, other)), name


def test_states_differing_only_in_hidden_fields_look_different():
    _check_pairs_told_apart(lambda maze, state: MarkovEncoder(maze, False).encode(state))


def test_the_six_channel_grid_fails_the_same_check():
    with pytest.raises(AssertionError):
        _check_pairs_told_apart(grid_from_state)
    maze = Maze(parse_layout(TWO_GHOSTS))  # and it fails on every pair, not just one
    for name, one, other in _adversarial_pairs(maze):
        assert np.array_equal(grid_from_state(maze, one), grid_from_state(maze, other)), name


def test_the_six_channel_grid_cannot_be_decoded():
    """Over random play, some v0 observations stand for two different hidden states."""
    maze = Maze(parse_layout(TWO_GHOSTS))
    hidden_by_obs: dict[bytes, set] = {}
    for state in random_states(maze, "random", 3000, seed=2):
        truth = DecodedState.of(state, False)
        key = (truth.ghost_dirs, truth.scared, truth.ghosts)
        hidden_by_obs.setdefault(grid_from_state(maze, state).tobytes(), set()).add(repr(key))
    assert any(len(hidden) > 1 for hidden in hidden_by_obs.values())


def test_env_hands_out_the_encoded_state_and_its_space():
    env = gym.make("PacGrid/Small-v1")
    obs, _ = env.reset(seed=0)
    maze = env.unwrapped.maze
    assert env.observation_space.shape == obs.shape == (maze.height, maze.width,
                                                        4 + 3 * len(maze.ghost_starts) + 6)
    for _ in range(50):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert obs in env.observation_space
        assert decode(obs, maze) == DecodedState.of(env.unwrapped.state, False)
        if terminated or truncated:
            break
    arcade = gym.make("PacGrid/Small-v1", ghosts="arcade")
    assert arcade.observation_space.shape[-1] == env.observation_space.shape[-1] + 11


def test_decode_refuses_an_observation_of_another_layout():
    maze = Maze(parse_layout(TWO_GHOSTS))
    with pytest.raises(ValueError, match="does not fit this layout"):
        decode(np.zeros((3, 3, 16), dtype=np.uint8), maze)


def mirrored_state(maze: Maze, state: GameState, partner: list[int],
                   flip: bool = False) -> DecodedState:
    """The left-right mirror image of `state` (up-down with `flip`), built field by field
    (ghost k of the mirror is the ghost that starts where ghost k's start mirrors to)."""
    swap = ({Action.NORTH: Action.SOUTH, Action.SOUTH: Action.NORTH} if flip
            else {Action.EAST: Action.WEST, Action.WEST: Action.EAST})

    def cell(index: int) -> int:
        row, col = maze.row_col(index)
        return (maze.cell_of(maze.height - 1 - row, col) if flip
                else maze.cell_of(row, maze.width - 1 - col))

    def heading(move: int) -> int:
        return int(swap.get(Action(move), move))

    def plane(flags: bytes) -> bytes:
        grid = np.frombuffer(bytes(flags), np.uint8).reshape(maze.height, maze.width)
        return (grid[::-1] if flip else grid[:, ::-1]).tobytes()

    return DecodedState(cell(state.pacman), plane(state.food), plane(state.capsules),
                        [cell(state.ghosts[partner[k]]) for k in range(len(partner))],
                        [heading(state.ghost_dirs[partner[k]]) for k in range(len(partner))],
                        [state.scared[partner[k]] for k in range(len(partner))], None, None)


def checked_reflection(orders, maze: Maze, image, swapped):
    """(channel_order, action_order, partner) of a reflection the env gave as `orders`, checked:
    the channel order is its own inverse, the actions swap the two moves `swapped` and keep the
    rest, and partner[k] is the ghost whose start ghost k's start reflects to (by `image`)."""
    channel_order, action_order = orders
    assert np.array_equal(channel_order[channel_order], np.arange(len(channel_order)))
    expected = list(Action)
    expected[swapped[0]], expected[swapped[1]] = swapped[1], swapped[0]
    assert list(action_order) == expected
    starts = [maze.row_col(start) for start in maze.ghost_starts]
    return channel_order, action_order, [starts.index(image(*start)) for start in starts]


@pytest.mark.parametrize("layout", [TWO_GHOSTS, "small-v1", "medium-v1"])
def test_the_mirrored_observation_is_that_of_the_mirrored_state(layout):
    parsed = parse_layout(layout) if "\n" in layout else load_layout(layout)
    env = PacmanEnv(parsed, obs_type="markov", ghosts="random")
    maze = env.maze
    channel_order, action_order, partner = checked_reflection(
        env.mirror(), maze, lambda row, col: (row, maze.width - 1 - col),
        (Action.EAST, Action.WEST))
    encoder, seen = MarkovEncoder(maze, arcade=False), 0
    for state in random_states(maze, "random", 2000, seed=2):
        if state.loss:
            continue
        mirrored = encoder.encode(state)[:, ::-1][..., channel_order]
        assert decode(mirrored, maze) == mirrored_state(maze, state, partner)
        # The moves legal in the mirror are the mirrored legal moves.
        assert np.array_equal(maze.legal_masks[mirrored_state(maze, state, partner).pacman],
                              maze.legal_masks[state.pacman][action_order])
        seen += any(state.ghost_dirs) and any(state.scared)
    assert seen > 0 or layout != TWO_GHOSTS


@pytest.mark.parametrize("layout", ["small-v1", "medium-v1", "classic-v1"])
def test_the_flipped_observation_is_that_of_the_flipped_state_under_the_same_rules(layout):
    env = PacmanEnv(load_layout(layout), obs_type="markov", ghosts="directional")
    maze = env.maze
    channel_order, action_order, partner = checked_reflection(
        env.flip(), maze, lambda row, col: (maze.height - 1 - row, col),
        (Action.NORTH, Action.SOUTH))

    def flipped(cell: int) -> int:
        row, col = maze.row_col(cell)
        return maze.cell_of(maze.height - 1 - row, col)

    # The rules read the same upside down: Pac-Man's moves, the ghosts' options (which also
    # forbid turning back) and, for directional ghosts, the distances they compare (Manhattan).
    for cell in range(len(maze.next_cell)):
        for action in range(len(action_order)):
            assert maze.next_cell[flipped(cell)][action_order[action]] == flipped(
                maze.next_cell[cell][action])
            options = {(int(action_order[move]), flipped(to))
                       for move, to in maze.ghost_moves[cell][action]}
            assert set(maze.ghost_moves[flipped(cell)][action_order[action]]) == options
    encoder, seen = MarkovEncoder(maze, arcade=False), 0
    for state in random_states(maze, "random", 3000, seed=3):
        if state.loss:
            continue
        image = encoder.encode(state)[::-1][..., channel_order]
        assert decode(image, maze) == mirrored_state(maze, state, partner, flip=True)
        seen += any(state.ghost_dirs) and any(state.scared)
    assert seen > 0


def test_games_without_an_updown_symmetry_have_none():
    assert gym.make("PacGrid/Tiny-v1").unwrapped.flip() is None  # its ghost is in a corner
    assert gym.make("PacGrid/Medium-v1", ghosts="arcade").unwrapped.flip() is None
    assert gym.make("PacGrid/Medium-v1", obs_type="rgb").unwrapped.flip() is None
    # Only the rules count: Medium-v1 starts Pac-Man on its bottom row, and still flips.
    assert gym.make("PacGrid/Medium-v1").unwrapped.flip() is not None


def test_games_without_a_mirror_symmetry_have_none():
    two = parse_layout(TWO_GHOSTS)
    assert PacmanEnv(two, obs_type="markov", ghosts="directional").mirror() is not None
    assert PacmanEnv(two, obs_type="grid").mirror()[0].tolist() == list(range(6))
    assert PacmanEnv(two, obs_type="markov", ghosts="arcade").mirror() is None
    assert PacmanEnv(two, obs_type="rgb").mirror() is None
    # Only the rules count: food and Pac-Man's start are state, and may be off the axis.
    off_axis = parse_layout(TWO_GHOSTS.replace("%o...P", "%o..P."))
    assert PacmanEnv(off_axis, obs_type="markov").mirror() is not None
    lopsided = parse_layout(TWO_GHOSTS.replace("%o...P", "%o%..P"))  # a wall off the axis
    assert PacmanEnv(lopsided, obs_type="markov").mirror() is None
    assert gym.make("PacGrid/Tiny-v1").unwrapped.mirror() is None  # its ghost is in a corner
    assert gym.make("PacGrid/Classic-v1").unwrapped.mirror() is None  # 4 ghosts off the axis
