"""Default prior training config: the Human3.6M prior on all training poses (S1, S5, S6, S7, S8; 4 cameras).

Command (data: VideoPose3D's data_3d_h36m.npz in DIR):

    posediff train --config configs/default.py --workdir runs/h36m_prior --config.data.manual_dir=DIR

Augmentation: mirror + rotation about each pose's world vertical as its camera sees it
(`config.data.rotation_axis`). Expected result: see configs/h36m_prior.py (the shipped prior: batch 1024,
27,000 steps).
"""

from posediff_jax.training.config_schema import default_config


def get_config():
    return default_config()
