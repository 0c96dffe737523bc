"""3DPW test set, every 25th frame, at most 300 frames: PA-MPJPE (17 joints and LSP-14) and MPJPE.

posediff evaluate --config configs/eval_3dpw.py [--prior NAME|DIR] [--set data.manual_dir=DIR]
Expected: not measured here (the data is not in ../shared/data; 3DPW licence: non-commercial research).
Evidence defaults to heatmaps of the ground-truth 2D projection; SMPL joints stand in for H36M joints.
"""

from posediff_jax.evaluation.config_schema import default_eval_config


def get_config():
    config = default_eval_config()
    config.dataset = "pw3d"
    config.data.builder = "pw3d"
    config.data.manual_dir = "../shared/data/3dpw"
    config.data.subjects = ()  # () = all
    config.data.frame_stride = 25
    config.data.max_frames = 300
    return config
