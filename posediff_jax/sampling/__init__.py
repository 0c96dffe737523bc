"""Guided DDIM / DDPM sampling over the unconditional prior, chunking and aggregation."""

from posediff_jax.sampling.aggregate import mean_pose, per_joint_selection, reprojection_weighted_pose
from posediff_jax.sampling.samplers import Sampler, SamplerConfig, make_sampler
