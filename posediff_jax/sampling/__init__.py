"""Guided sampling over the unconditional prior: one SamplerConfig, registered update rules, chunking, aggregation."""

from posediff_jax.sampling.aggregate import mean_pose, per_joint_selection, reprojection_weighted_pose
from posediff_jax.sampling.config import (SamplerConfig, for_views, resolve_scale_schedule, sampler_config_for,
                                         sampler_section)
from posediff_jax.sampling.sampler import Sampler, make_sampler
from posediff_jax.sampling.updates import register_sampler, registered_samplers
