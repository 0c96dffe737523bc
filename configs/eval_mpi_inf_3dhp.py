"""MPI-INF-3DHP test set, every 10th frame, at most 300 frames: PCK@150 mm, AUC and MPJPE of best-of-m.

posediff evaluate --config configs/eval_mpi_inf_3dhp.py [--prior NAME|DIR] [--set data.manual_dir=DIR]
Expected: not measured here (the data is not in ../shared/data; MPI-INF-3DHP licence: non-commercial research).
Evidence defaults to heatmaps of the ground-truth 2D projection; PCK / AUC root-relative, without Procrustes.
"""

from posediff_jax.evaluation.config_schema import default_eval_config


def get_config():
    config = default_eval_config()
    config.dataset = "mpi_inf_3dhp"
    config.data.builder = "mpi_inf_3dhp"
    config.data.manual_dir = "../shared/data/mpi_inf_3dhp"
    config.data.subjects = ()  # TS1..TS6; () = all
    config.data.frame_stride = 10
    config.data.max_frames = 300
    return config
