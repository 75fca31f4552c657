"""The learners: tabular Q-learning and the DQN built on it."""
