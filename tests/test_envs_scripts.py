"""scripts/play.py with scripted key presses, and scripts/bench_env.py with a tiny budget."""

import json

import pygame
import pytest

from scripts import bench_env, play


def key(code):
    return pygame.event.Event(pygame.KEYDOWN, key=code)


def scripted_events(script):
    """An event source that hands out one list of events per call, then nothing."""
    calls = iter(script)
    return lambda: next(calls, [])


def test_play_restarts_with_r_and_quits_with_escape(capsys):
    env = play.make_env(play.PlayConfig(layout="tiny", fps=1000, max_steps=6))
    # Go east; the game stops after 6 steps (time up, or caught); wait; R; then Esc mid-game.
    script = [[key(pygame.K_RIGHT)]] + [[]] * 10 + [[key(pygame.K_r)], [], [key(pygame.K_ESCAPE)]]
    scores = play.play(env, seed=0, get_events=scripted_events(script))
    out = capsys.readouterr().out
    assert "game over" in out
    assert len(scores) == 2
    assert scores[1] == -1  # one step into the second game
    assert out.strip().splitlines()[-1] == f"final score: {scores[-1]}"


def test_play_follows_the_arrow_keys(capsys):
    env = play.make_env(play.PlayConfig(layout="tiny", fps=1000))
    positions = []

    def events():
        positions.append(env.unwrapped.state.pacman)
        step = len(positions)
        if step == 1:
            return [key(pygame.K_UP)]  # north is open from the bottom-left corner
        if step == 6:
            return [pygame.event.Event(pygame.QUIT)]
        return []

    play.play(env, seed=0, get_events=events)
    maze = env.unwrapped.maze
    rows = [maze.coords[cell][0] for cell in positions]
    assert rows[:4] == [5, 4, 3, 2]  # Pac-Man walks up the west column one cell per step
    assert "final score" in capsys.readouterr().out


def test_play_rejects_bad_settings(capsys):
    assert play.main(["--layout", "nosuchmaze"]) == 2
    assert "built-in layouts are" in capsys.readouterr().err
    assert play.main(["--fps", "0"]) == 2
    with pytest.raises(SystemExit):
        play.main(["--help"])
    assert "Arrow keys" in capsys.readouterr().out


def test_bench_env_prints_one_json_object(capsys):
    argv = ["--steps", "200", "--rounds", "1", "--render-frames", "2", "--tile-size", "8"]
    assert bench_env.main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    for name in ("tiny", "small", "medium", "classic"):
        assert report[name] > 0
        assert report["render_ms"][name] > 0
    assert set(report["small_by_ghosts"]) == {"random", "directional", "arcade"}
