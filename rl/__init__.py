"""Algorithm-agnostic RL plumbing shared by every agent (rl never imports agents or envs).

- `rl.protocol`: the `Agent` protocol the loop expects (act, observe, state_dict, rng)
- `rl.run`: the run folder (file names, config.json, fresh-run and resume checks)
- `rl.loop`: the core `run_steps` and `train(env, agent, LoopConfig, run_dir)`, whose add-ons
  log, evaluate and checkpoint (exact resume)
- `rl.checkpoint`: the one checkpoint format (atomic npz + JSON metadata) for every agent
- `rl.evaluate`: greedy evaluation, playing and recording episodes
- `rl.logging`: metrics.csv (and TensorBoard when installed); `rl.plotting`: learning curves
- `rl.schedules`, `rl.seeding`, `rl.config` (dataclass <-> flags <-> JSON)
- `rl.replay`, `rl.prioritized`: replay buffers
- `rl.sweep` (a grid x seeds: plan, run), `rl.trials` (where trials run: processes or Ray),
  `rl.sweep_report` and `rl.stats` (bootstrap confidence intervals, performance profiles)
"""
