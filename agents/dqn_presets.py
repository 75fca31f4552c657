"""The DQN's per-environment starting points (agents/dqn.py), by environment id.

scripts/train.py layers the user's flags over these. Keys are DQNConfig fields or rl.loop.LoopConfig
fields (total_steps, eval_every, ...). The Pac-Man presets are for the Markov -v1 ids (the -v0 ones
hide the ghosts' headings, identities and timers). What the presets reach is measured in the
results page, docs/results.md.
"""

from typing import Any

from rl import schedules

_CARTPOLE_STEPS = 50_000


def _pacman_preset(total_steps: int, exploration_steps: int) -> dict[str, Any]:
    """The CNN settings shared by the Pac-Man layouts; longer runs explore for longer."""
    updates = total_steps // 4
    return {
        "total_steps": total_steps, "eval_every": max(total_steps // 20, 1_000),
        "eval_episodes": 20, "checkpoint_every": max(total_steps // 20, 1_000),
        "log_every": 2_000,
        "hidden": (128,), "conv_channels": (16, 32), "conv_strides": (1, 2), "dueling": True,
        # Pac-Man-centred view: "ghost just north of me" is one input pattern anywhere on the board.
        "center_channel": 3, "outside_channel": 0,
        # Legal moves only (info["action_mask"]): half of a Small-v1 agent's fatal choices were
        # moves into a wall, standing still beside a ghost, on values it had rarely trained.
        "action_mask": True,
        "batch_size": 32, "buffer_size": min(total_steps, 200_000), "learning_starts": 5_000,
        "train_freq": 4, "target_update_interval": 1_000, "n_step": 3,
        # Rewards of ±500 scaled to ±5, Huber quadratic up to 5: a rare death still moves values
        # (at about half its mean risk: Small-v1 uses 20, see there; on Medium 20 was no better).
        "reward_scale": 0.01, "huber_delta": 5.0,
        "learning_rate": schedules.linear(5e-4, 5e-5, updates),
        "epsilon": schedules.linear(1.0, 0.02, exploration_steps),
    }


# The layouts that read the same mirrored (Small-v1, Medium-v1): greedy acting on the mean of a
# state's and its mirror image's Q-values. On the same trained weights (100 held-out games) it
# won 88 instead of 77 (Small, prioritized replay), 80, 76, 72 instead of 75, 73, 70 (the Small
# preset's seeds 0-2) and 82 instead of 61 (the shipped Medium model), in shorter games.
_MIRRORED: dict[str, Any] = {"mirror_greedy": True, "eval_episodes": 100}

presets: dict[str, dict[str, Any]] = {
    # Learns every step, 3-step returns, soft target sync; the annealed rate lets the policy settle.
    "CartPole-v1": {
        "total_steps": _CARTPOLE_STEPS, "eval_every": 5_000, "eval_episodes": 10,
        "checkpoint_every": 10_000,
        "hidden": (256, 256), "batch_size": 64, "buffer_size": _CARTPOLE_STEPS,
        "learning_starts": 1_000, "train_freq": 1, "n_step": 3, "tau": 0.005,
        "learning_rate": schedules.linear(1e-3, 1e-5, _CARTPOLE_STEPS - 1_000),
        "epsilon": schedules.linear(1.0, 0.01, 10_000),
    },
    # One ghost on 7x7 cells: the shared settings in the demo's budget (`make demo`).
    "PacGrid/Tiny-v1": _pacman_preset(30_000, 10_000),
    # Three ghosts: 4 envs, ε over 250k of 1M steps, strides 2, 2 so the centred view stays cheap.
    # γ 0.95: stepping toward food 15 moves away is worth 5·γ¹⁵·(1 − γ²) = 0.23 (0.09 at 0.99),
    # and the agent had walked at random once few pellets were left (scripts/pacman_diagnose.py).
    # Prioritized replay and half of each minibatch mirrored (seed 0: 20-game evaluations at
    # 0.75-0.90 from 550k steps, against 0.40-0.80 with prioritized replay alone).
    # The Munchausen target and a 5x5 window around Pac-Man beside the CNN (session 13; 500
    # held-out games of seed 0's best.npz: 0.78 without either, 0.824 with the target alone,
    # 0.852 with both; Munchausen alone on seeds 1 and 2: 0.858 and 0.818).
    # Being caught costs 500 more in training (session 14): a γ-0.95 agent had priced a death
    # at little more than a ghost's +200, and a third of its deaths came eating a ghost beside
    # or on its start (an eaten ghost returns there unscared). 500 held-out games, seeds 0-2:
    # best.npz 0.852/0.87/0.82 -> 0.854/0.842/0.886, final 0.822/0.776/0.804 -> 0.852/0.856/0.89.
    # Huber δ 20, not 5 (session 16): a capped gradient prices a rare catch (−10 scaled) at half
    # its mean (a 10% risk at −0.56, not −1.0), and 17 of seed 0's 25 deaths in 200 games came
    # with a safe move. Quadratic up to 20 prices it in full: 500 held-out games, seeds 0/1/2,
    # best.npz 0.854/0.842/0.886 -> 0.918/0.908/0.918, final 0.852/0.856/0.89 ->
    # 0.914/0.944/0.938; deaths with a safe move in 200 games 17/18/8 -> 1/4/9.
    # Medium's 8 and 16 convolution channels with the up-down flip trained (session 33): each
    # replayed transition one of its four reflections evenly (mirror_augment 0.75), greedy
    # acting on the mean of the four views. At 8/16 with the mirror alone seed 0 won 0.894
    # (best.npz) and 0.848 (final) of 500 held-out games (session 31), under 16/32's 0.918 and
    # 0.914 (session 16); with the flip, seeds 0-2 won 0.932, 0.912, 0.922 (best.npz) and
    # 0.914, 0.924, 0.912 (final; seed 1 from session 32,
    # where seed 0 won 0.942 and 0.932). An update takes about two thirds of
    # 16/32's: training ran 1.495-1.541x SB3's steps per CPU-second (median 1.504 over five
    # quiet runs, sessions 33-34) instead of 1.25x. Its ablation at half the budget (session 34,
    # examples/sweeps/small_v1_ablation_s33.json): 16/32 ended higher there (0.89 against
    # 0.815, at 1.4x the time), the preset matched it at the full budget.
    "PacGrid/Small-v1": {**_pacman_preset(300_000, 100_000),
                         "total_steps": 1_000_000, "num_envs": 4, "gamma": 0.95,
                         "buffer_size": 300_000, "eval_every": 50_000,
                         "checkpoint_every": 50_000,
                         "epsilon": schedules.linear(1.0, 0.02, 250_000),
                         "conv_channels": (8, 16), "conv_strides": (2, 2), "prioritized": True,
                         "mirror_augment": 0.75, "updown_flip": True,
                         "munchausen": True, "agent_window": 5, "loss_penalty": 500.0,
                         "huber_delta": 20.0, **_MIRRORED},
    # Three ghosts on 17x11 cells: Small's settings over 1.5M steps (67-123 min on one core), ε
    # over 375k. Small's learning rate too (annealed over its first 75k updates): annealed over
    # all 375k, the win rate peaked at 0.23 (600k steps) and fell to 0-3%; 100-game evaluations
    # pick best.npz. Prioritized replay and mirrored minibatches as on Small (seed 0: 80 and 81 of
    # 100 held-out games, best and final, in games half as long as without them: 351 moves).
    # Half the convolution channels, 8 and 16 (session 28): seed 0 won 87 and 81 of 100 held-out
    # games (best.npz, final; 0.862 and 0.848 of 500) where 16 and 32 won 85 and 84, and an update
    # takes about a fifth less time (1.02x SB3's steps per CPU-second instead of 0.90). On Small
    # the same cut alone lost 1 (best.npz) to 4 (final) points over seeds 0-2 and 500 held-out
    # games; with the up-down flip it did not (Small's preset since session 33).
    # No Double DQN (session 29): its online pass over next_obs is a third of an update's forward
    # work. Seeds 0-2 without it won 0.836, 0.86, 0.87 of 500 held-out games (best.npz) and
    # 0.786, 0.844, 0.81 (final), seed 0 with it 0.862 and 0.848; training ran 1.46-1.55x SB3's
    # steps per CPU-second (four runs) instead of 1.23x, and since session 30 (both networks in
    # one pass, memory kept between steps) 1.56 and 1.64x.
    "PacGrid/Medium-v1": {**_pacman_preset(1_500_000, 375_000), "num_envs": 4, "gamma": 0.95,
                          "conv_channels": (8, 16), "double_dqn": False,
                          "buffer_size": 300_000, "conv_strides": (2, 2), "eval_episodes": 100,
                          "learning_rate": schedules.linear(5e-4, 5e-5, 75_000),
                          "prioritized": True, "mirror_augment": 0.5, **_MIRRORED},
    # Four ghosts on 27x15 cells: Medium's settings. An update takes about twice Medium's, so
    # the same 1.5M steps took 126 min on one core (session 12; 2-4 h on slower machines, in
    # parts with --resume): 27 of 100 held-out games, still rising. The layout is lopsided
    # (ghost starts, food), so no mirrored minibatches or mirrored acting.
    "PacGrid/Classic-v1": {**_pacman_preset(1_500_000, 375_000), "num_envs": 4, "gamma": 0.95,
                           "buffer_size": 300_000, "conv_strides": (2, 2), "eval_episodes": 100,
                           "learning_rate": schedules.linear(5e-4, 5e-5, 75_000),
                           "prioritized": True},
}

# Overrides of an id's preset for envs made with given kwargs (agents.registry.preset_for):
# {id: [(env kwargs, overrides), ...]}.
variants: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {
    # Chasing ghosts on Medium-v1: Small's Munchausen target and Huber δ 20, a 9×9 window
    # around Pac-Man (session 17: 0.30 of 500 held-out games), and exploration by learned weight
    # noise instead of ε (session 24, nets.NoisyDense). Seed 0 played by 450k steps as the
    # ε-greedy runs did at 1.4M, and won 0.464 of 500 held-out games with its final checkpoint
    # (0.382 with best.npz), where no ε-greedy run passed 0.336 (docs/results.md, "Session 24");
    # seed 1: 0.44. 5-step returns instead of 3 (session 26): seed 0 won 0.484 of 500 (its final
    # checkpoint, also its best.npz), over the 0.48 line but within the 3-step runs' spread;
    # seeds 1 and 2 (session 27): 0.394 and 0.416, so 0.39-0.48 over seeds 0-2.
    # (With the convolution channels of its runs, 16 and 32, not the random-ghost preset's 8, 16.)
    "PacGrid/Medium-v1": [({"ghosts": "directional"}, {
        "conv_channels": (16, 32),
        "munchausen": True, "huber_delta": 20.0, "agent_window": 9, "n_step": 5,
        "noisy": True, "epsilon": schedules.constant(0.0)})],
}
