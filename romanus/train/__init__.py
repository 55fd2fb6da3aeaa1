"""Training with stable-baselines3 (and sb3-contrib's MaskablePPO): hyper-parameters, runs,
callbacks, and trained agents as policies."""
