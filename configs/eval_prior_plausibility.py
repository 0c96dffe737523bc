"""Plausibility and coverage of 1,024 unconditional samples against real Human3.6M poses (DDPM, 50 steps).

posediff evaluate --config configs/eval_prior_plausibility.py [--set sampler.method=ddim] [--set data.manual_dir=DIR]
Expected (2-core CPU): per-bone deviation 8.1 mm (data 7.7), bias 1.9, asymmetry 3.7, nearest to S9 104.9 mm.
"""

from posediff_jax.evaluation.config_schema import default_eval_config
from posediff_jax.sampling.config import sampler_section


def get_config():
    config = default_eval_config()
    config.evaluator = "plausibility"
    config.dataset = "h36m"
    config.data.manual_dir = "../shared/data/h36m"
    config.data.subjects = ("S9",)
    config.data.frame_stride = 16
    config.sampler = sampler_section(None)  # unconditional generation settings
    config.sampler.chunk_size = 1024
    return config
