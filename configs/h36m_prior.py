"""The shipped prior: Human3.6M training poses (S1, S5, S6, S7, S8 x 4 cameras, 732,360 poses), CPU-sized.

Command (the data folder holds VideoPose3D's data_3d_h36m.npz; here ../shared/data/h36m), then the export of
the final EMA weights into the package:

    posediff train --config configs/h36m_prior.py --workdir runs/h36m_prior \
        --config.data.manual_dir=../shared/data/h36m
    python tools/export_prior.py --workdir runs/h36m_prior --output posediff_jax/assets/prior --float16
    python tools/eval_prior_plausibility.py --checkpoint posediff_jax/assets/prior --manual-dir ../shared/data/h36m

Residual MLP width 512 x 4 blocks (3.5 M parameters), epsilon prediction, cosine VP schedule, continuous time,
batch 256, 20,000 AdamW steps. Measured for the shipped prior (2-core CPU, ~20 min at 4-6k examples/s): final
training loss 0.198, held-out S9 denoising loss 0.238; 1,024 unconditional samples (50 steps): mean bone
lengths within 3.8 mm (DDPM) / 1.9 mm (DDIM) of the data's, per-bone mean |length - data mean| 11.7 / 15.9 mm
(the data's own across subjects: 7.7 mm), left/right asymmetry 11.0 / 17.2 mm (data: 0).
"""

from posediff_jax.training.config_schema import default_config


def get_config():
    config = default_config()
    config.data.source = "h36m"
    config.data.manual_dir = "../shared/data/h36m"
    config.model.width = 512
    config.model.depth = 4
    config.training.global_batch_size = 256
    config.training.num_steps = 20_000
    config.training.eval_every = 10_000
    config.training.checkpoint_every = 1_000
    return config
