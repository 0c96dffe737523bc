"""Human3.6M prior training on all training poses (S1, S5, S6, S7, S8; 4 cameras), the schema's defaults.

posediff train --config configs/default.py --workdir runs/h36m_prior --config.data.manual_dir=DIR
Expected: see configs/h36m_prior.py (the shipped prior's recipe: batch 1024, 27,000 steps).
"""

from posediff_jax.training.config_schema import default_config


def get_config():
    return default_config()
