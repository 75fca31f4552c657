"""Algorithm-agnostic RL plumbing shared by every agent (rl never imports agents or envs).

- `rl.protocol`: the `Agent` protocol the loop expects (act, observe, state_dict, rng)
- `rl.loop`: `train(env, agent, LoopConfig, run_dir)` with evaluation, logs and exact resume
- `rl.evaluate`: greedy evaluation; `rl.checkpoint`: atomic npz + JSON checkpoints
- `rl.logging`: metrics.csv (and TensorBoard when installed); `rl.plotting`: learning curves
- `rl.schedules`, `rl.seeding`, `rl.config` (dataclass <-> flags <-> JSON)
- `rl.replay`, `rl.prioritized`: replay buffers
"""
