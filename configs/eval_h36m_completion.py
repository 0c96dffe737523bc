"""Pose completion on 30 Human3.6M S9 poses: known joints pinned, the rest sampled (50 hypotheses).

posediff evaluate --config configs/eval_h36m_completion.py [--set data.manual_dir=DIR]
Expected (2-core CPU): known-joint error 7.4 / 3.5 / 6.6 mm, free joints best-of-50 130.0 / 82.1 / 67.9 mm
(lower body known / upper body known / right arm missing).
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
