"""MPI-INF-3DHP test set: PCK@150 mm, AUC and MPJPE of best-of-m hypotheses, per sequence and scene type.

    posediff evaluate --config configs/eval_mpi_inf_3dhp.py --workdir /tmp/eval_3dhp

Needs the project's `mpi_inf_3dhp` tfds builder and the user's download of the test set
(`config.data.manual_dir`; MPI-INF-3DHP licence: non-commercial research). Not run in this repository's
closing evaluation: the data is not in `../shared/data`. Evidence defaults to heatmaps rendered from the
ground-truth 2D projection (the test set has no standard detections); PCK / AUC are root-relative without
Procrustes alignment, overall = mean over frames (the benchmark's convention).
With this exact 2D, `--prior auto` (the default) samples from the bone-proportion prior (`wide_proportions`;
README, "The bone-proportion prior for exact 2D"), whose body proportions vary beyond Human3.6M's five training
subjects; `--prior default` for the other shipped prior. Neither was measured on this dataset here.
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
