"""Variance-preserving diffusion: schedules, output parameterisations, the training loss."""
