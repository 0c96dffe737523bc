"""Pose completion on held-out Human3.6M S9 poses: known joints pinned, the rest sampled from the prior.

    posediff evaluate --config configs/eval_h36m_completion.py --workdir /tmp/eval_completion

30 S9 poses (every 64th frame, all cameras, drawn with seed 0), 50 hypotheses, the completion energy
(sigma 10 mm) with the sampler settings the completion energy registers (small, preconditioned, loosely clipped
step: guidance/registry.py). Data: `../shared/data/h36m` (`config.data.manual_dir`).

Expected result: see the README's "Pose completion" table (known joints kept within a few mm).
"""

from posediff_jax.evaluation.config_schema import default_eval_config
from posediff_jax.sampling.config import sampler_section


def get_config():
    config = default_eval_config()
    config.evaluator = "completion"
    config.dataset = "h36m"
    config.data.manual_dir = "../shared/data/h36m"
    config.data.subjects = ("S9",)
    config.data.frame_stride = 64
    config.sampler = sampler_section("completion")
    config.num_hypotheses = (50,)
    return config
