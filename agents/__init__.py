"""The learners: tabular Q-learning, the DQN built on it (its presets in dqn_presets.py), and the
registry that builds and trains them by name."""
