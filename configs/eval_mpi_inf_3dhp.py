"""MPI-INF-3DHP test set: PCK@150 mm, AUC and MPJPE of best-of-m hypotheses, per sequence and scene type.

    posediff evaluate --config configs/eval_mpi_inf_3dhp.py --workdir /tmp/eval_3dhp

Needs the project's `mpi_inf_3dhp` tfds builder and the user's download of the test set
(`config.data.manual_dir`; MPI-INF-3DHP licence: non-commercial research). Not run in this repository's
closing evaluation: the data is not in `../shared/data`. Evidence defaults to heatmaps rendered from the
ground-truth 2D projection (the test set has no standard detections); PCK / AUC are root-relative without
Procrustes alignment, overall = mean over frames (the benchmark's convention).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.dataset = "mpi_inf_3dhp"
    config.workdir = ""

    config.data = ml_collections.ConfigDict()
    config.data.loader = "tfds"
    config.data.builder = "mpi_inf_3dhp"
    config.data.data_dir = ""  # tfds data dir ('' = default)
    config.data.manual_dir = "../shared/data/mpi_inf_3dhp"
    config.data.split = "test"
    config.data.subjects = ()  # TS1..TS6; () = all
    config.data.cameras = ()
    config.data.actions = ()
    config.data.frame_stride = 10
    config.data.max_frames = 300

    config.evidence = ml_collections.ConfigDict()
    config.evidence.source = "gt_heatmaps"
    config.evidence.sigma = 2.0
    config.evidence.heatmap_size = 64
    config.evidence.heatmap_arrays_file = ""
    config.evidence.use_gt_root = False

    config.sampler = ml_collections.ConfigDict()
    config.sampler.num_steps = 50
    config.sampler.method = "ddim"
    config.sampler.guidance = "dps"
    config.sampler.guidance_scale = 0.1
    config.sampler.scale_schedule = "constant"
    config.sampler.max_grad_norm = 5.0
    config.sampler.eta = 0.0
    config.sampler.chunk_size = 256

    config.num_hypotheses = (1, 10, 50, 200)
    config.calibration_levels = (0.5, 0.9)
    config.aggregation = "mean"
    config.batch_size = 8
    config.seed = 0
    config.save_hypotheses = False
    config.digits = 1
    return config
