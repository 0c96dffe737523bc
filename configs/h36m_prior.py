"""The shipped prior: Human3.6M training poses (S1, S5, S6, S7, S8 x 4 cameras, 732k poses), CPU-sized.

Command (the data folder holds VideoPose3D's data_3d_h36m.npz; here ../shared/data/h36m):

    posediff train --config configs/h36m_prior.py --workdir runs/h36m_prior \
        --config.data.manual_dir=../shared/data/h36m

then copy runs/h36m_prior/export/{params.npz,prior.json} into posediff_jax/assets/prior/.
Expected result: see the README section "The shipped prior" for the measured loss, wall-clock and the
plausibility figures (bone lengths of unconditional samples vs the data).
"""

from posediff_jax.training.config_schema import default_config


def get_config():
    config = default_config()
    config.data.source = "h36m"
    config.data.manual_dir = "../shared/data/h36m"
    config.model.width = 512
    config.model.depth = 4
    config.training.global_batch_size = 256
    config.training.num_steps = 40_000
    config.training.eval_every = 10_000
    config.training.checkpoint_every = 1_000
    return config
