"""Plausibility and coverage of the prior's unconditional samples against real Human3.6M poses.

    posediff evaluate --config configs/eval_prior_plausibility.py --workdir /tmp/eval_plausibility
    posediff evaluate --config configs/eval_prior_plausibility.py --set sampler.method=ddim   # the DDIM row

1,024 unconditional samples (50 steps, the generation settings: DDPM) against the training poses (S1, S5, S6,
S7, S8, every 50th frame): bone-length deviation / bias / spread and left/right asymmetry with the data's own
values beside them; coverage of 1,000 real S9 poses (nearest-sample MPJPE, beside the nearest of as many
training poses); the mean optical-axis component of the body's up vector (real cameras look down: about -0.2).
Data: `../shared/data/h36m` (`config.data.manual_dir`).

Expected result: see the README's "The shipped prior" section.
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
