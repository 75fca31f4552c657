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
    # Go east; the game stops after 6 steps (time up, or caught); wait; R; the new game waits
    # for an arrow key; one step east; then Esc mid-game.
    script = [[key(pygame.K_RIGHT)]] + [[]] * 10 + [[key(pygame.K_r)], [], [key(pygame.K_RIGHT)],
                                                    [key(pygame.K_ESCAPE)]]
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


def record_screens(monkeypatch):
    """The (caption, banner) of every picture play() shows."""
    from rl.viewer import FrameComposer

    screens = []
    compose = FrameComposer.compose_surface

    def recording(self, frame, caption=(), q_values=None, chosen=None, banner=None):
        screens.append((list(caption), banner))
        return compose(self, frame, caption, q_values, chosen, banner)

    monkeypatch.setattr(FrameComposer, "compose_surface", recording)
    return screens


def test_play_waits_ready_pauses_with_p_and_shows_the_keys(monkeypatch, capsys):
    screens = record_screens(monkeypatch)
    env = play.make_env(play.PlayConfig(layout="tiny", fps=1000))
    ghosts, steps = [], []

    def events():
        ghosts.append(tuple(env.unwrapped.state.ghosts))
        steps.append(env.unwrapped.state.steps)
        step = len(ghosts)
        if step == 5:
            return [key(pygame.K_UP)]
        if step == 7:
            return [key(pygame.K_p)]
        if step == 10:
            return [key(pygame.K_p)]
        if step == 12:
            return [key(pygame.K_ESCAPE)]
        return []

    scores = play.play(env, seed=0, get_events=events)
    assert len(set(ghosts[:5])) == 1  # READY: the ghosts wait for the first key
    assert [banner for _, banner in screens[:4]] == ["READY!"] * 4
    assert screens[4][1] is None and screens[6][1] == "PAUSED" and screens[9][1] is None
    assert ghosts[7] == ghosts[8] == ghosts[9]  # paused: nothing moves
    assert steps == [0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 3, 4]  # steps in frames 5, 6, 10 and 11
    assert len(scores) == 1
    assert screens[0][0] == [play.KEY_HELP]
    assert "P: pause" in play.KEY_HELP and "Esc: quit" in play.KEY_HELP


def test_play_ends_a_game_with_a_banner_and_the_keys_to_go_on(monkeypatch, capsys):
    screens = record_screens(monkeypatch)
    env = play.make_env(play.PlayConfig(layout="tiny", fps=1000, max_steps=3))
    script = [[key(pygame.K_RIGHT)]] + [[]] * 4 + [[key(pygame.K_ESCAPE)]]
    play.play(env, seed=0, get_events=scripted_events(script))
    caption, banner = screens[-1]
    assert banner in ("TIME UP!", "CAUGHT!", "YOU WIN!") and caption == [play.OVER_HELP]


def test_play_shows_pacman_dying_when_caught(monkeypatch, capsys):
    screens = record_screens(monkeypatch)
    dying = []
    draw = play._draw_dying_pacman
    monkeypatch.setattr(play, "_draw_dying_pacman",
                        lambda pygame, surface, game, progress: (dying.append(progress),
                                                                 draw(pygame, surface, game,
                                                                      progress)))
    env = play.make_env(play.PlayConfig(layout="tiny", fps=1000))
    script = [[key(pygame.K_UP)]] + [[]] * 20 + [[key(pygame.K_ESCAPE)]]
    play.play(env, seed=0, get_events=scripted_events(script))  # caught in 4 steps
    assert "game over (caught)" in capsys.readouterr().out
    assert screens[-1][1] == "CAUGHT!"
    assert dying == [k / play.DEATH_FRAMES for k in range(play.DEATH_FRAMES)]


def test_play_window_fits_a_1280x800_screen():
    for layout in ("tiny", "medium", "classic", "classic-v1"):
        env = play.make_env(play.PlayConfig(layout=layout))
        env.reset(seed=0)
        height, width, _ = env.render().shape
        env.close()
        assert width <= 1280 and height + 30 <= 800, layout
    assert play.fitting_tile_size("classic") < 32 == play.fitting_tile_size("tiny")


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
