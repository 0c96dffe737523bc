"""The shipped prior: Human3.6M training poses (S1, S5, S6, S7, S8 x 4 cameras), MLP 512 x 4, 27,000 steps.

posediff train --config configs/h36m_prior.py --workdir runs/h36m_prior [--config.data.manual_dir=DIR]
Expected (2-core AMD EPYC CPU, ~35 min): final training loss 0.165, held-out S9 loss 0.276 (metrics.jsonl).
Export: python tools/export_prior.py --workdir runs/h36m_prior --output posediff_jax/assets/prior --float16
Without the dataset folder: --config.data.source=npz --config.data.poses_file=FILE (tools/make_pose_file.py).
One LayerNorm, before the head, bounds the output for stiff guidance (docs/decisions.md, 'Network normalisation').
"""

from posediff_jax.training.config_schema import default_config


def get_config():
    config = default_config()
    config.data.source = "h36m"
    config.data.manual_dir = "../shared/data/h36m"
    config.data.rotation_axis = "world_vertical"
    config.model.width = 512
    config.model.depth = 4
    config.model.normalization = "final"  # one LayerNorm, before the head (model/score_network.py)
    config.training.global_batch_size = 1024
    config.training.num_steps = 27_000
    config.training.log_every = 1_000
    config.training.eval_every = 25_000
    config.training.checkpoint_every = 5_000
    return config
