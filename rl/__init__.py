"""Algorithm-agnostic RL plumbing: replay, schedules, the training loop, logging, checkpoints."""
