"""Rendering, headless: frame sizes and the colours drawn where Pac-Man and the ghosts stand."""

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs.pacman import PacmanEnv
from envs.pacman.render import (
    FOOD,
    GHOST_COLOURS,
    PACMAN,
    SCARED_GHOST,
    WALL_EDGE,
    frame_shape,
    status_bar_height,
)

TILE = 16


def tile_pixels(frame: np.ndarray, maze, cell: int) -> np.ndarray:
    row, col = maze.coords[cell]
    return frame[row * TILE : (row + 1) * TILE, col * TILE : (col + 1) * TILE].reshape(-1, 3)


def share_of(pixels: np.ndarray, colour) -> float:
    return float(np.all(pixels == np.array(colour, dtype=np.uint8), axis=1).mean())


@pytest.fixture
def classic():
    env = PacmanEnv("classic", render_mode="rgb_array", tile_size=TILE)
    env.reset(seed=0)
    yield env
    env.close()


def test_frame_has_the_promised_size(classic):
    frame = classic.render()
    assert frame.dtype == np.uint8
    assert frame.shape == frame_shape(classic.layout, TILE)
    assert frame.shape == (27 * TILE + status_bar_height(TILE), 28 * TILE, 3)


def test_pacman_ghosts_food_and_walls_have_their_colours(classic):
    frame = classic.render()
    maze, state = classic.maze, classic.state
    assert share_of(tile_pixels(frame, maze, state.pacman), PACMAN) > 0.4
    for index, cell in enumerate(state.ghosts):
        assert share_of(tile_pixels(frame, maze, cell), GHOST_COLOURS[index]) > 0.3
    food_cell = int(np.flatnonzero(classic.layout.food.reshape(-1))[0])
    assert share_of(tile_pixels(frame, maze, food_cell), FOOD) > 0
    assert share_of(tile_pixels(frame, maze, food_cell), PACMAN) == 0
    assert share_of(frame[:TILE, :TILE].reshape(-1, 3), WALL_EDGE) > 0


def test_scared_ghosts_turn_blue(classic):
    classic.state.scared[:] = [20] * classic.layout.num_ghosts
    frame = classic.render()
    for index, cell in enumerate(classic.state.ghosts):
        pixels = tile_pixels(frame, classic.maze, cell)
        assert share_of(pixels, SCARED_GHOST) > 0.3
        assert share_of(pixels, GHOST_COLOURS[index]) == 0


def test_pacman_chews_and_the_score_is_drawn():
    env = PacmanEnv("classic", render_mode="rgb_array", tile_size=TILE)
    env.reset(seed=0)
    cell = env.state.pacman
    frames = [env.render()]
    for _ in range(2):
        env.step(0)  # stand still: only the mouth and the score change around Pac-Man
        frames.append(env.render())
    mouths = [tile_pixels(frame, env.maze, cell) for frame in frames]
    assert not np.array_equal(mouths[0], mouths[1])
    bar = slice(env.layout.height * TILE, None)
    assert not np.array_equal(frames[0][bar], frames[1][bar])  # "SCORE 0" became "SCORE -1"
    assert (frames[0][bar] == 255).any()  # white text


def test_rgb_observation_is_the_rendered_frame():
    env = gym.make("PacGrid/Small-v0", obs_type="rgb", render_mode="rgb_array", tile_size=TILE)
    obs, _ = env.reset(seed=1)
    assert env.observation_space.shape == obs.shape == frame_shape(env.unwrapped.layout, TILE)
    np.testing.assert_array_equal(obs, env.render())
    obs, *_ = env.step(3)
    np.testing.assert_array_equal(obs, env.render())
    env.close()


def test_ansi_shows_the_maze_and_the_score():
    env = gym.make("PacGrid/Tiny-v0", render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    lines = text.splitlines()
    assert lines[0] == "%" * 7
    assert lines[5] == "%<   .%"  # Pac-Man facing east, food in the far corner
    assert lines[1][5] == "G"
    assert lines[-1] == "score 0  food 2"
    env.close()


def test_human_mode_runs_headless():
    env = gym.make("PacGrid/Tiny-v0", render_mode="human", render_fps=1000)  # no waiting
    assert env.unwrapped.metadata["render_fps"] == 1000
    assert envs.pacman.PacmanEnv.metadata["render_fps"] == 10
    env.reset(seed=0)
    assert env.render() is None
    env.step(3)
    env.close()
    env.close()  # closing twice is allowed
