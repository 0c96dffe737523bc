"""3DPW test set: PA-MPJPE (17-joint layout minus the head top SMPL lacks, and the LSP-14 subset) and MPJPE.

    posediff evaluate --config configs/eval_3dpw.py --workdir /tmp/eval_3dpw

Needs the project's `pw3d` tfds builder and the user's download of the test set
(`config.data.manual_dir`; 3DPW licence: non-commercial research). Not run in this repository's
closing evaluation: the data is not in `../shared/data`. Evidence defaults to heatmaps rendered from the
ground-truth 2D projection (3DPW ships no standard detections); SMPL joints stand in for H36M joints as in
`skeleton.from_smpl24`; overall = mean over frames.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.dataset = "pw3d"
    config.workdir = ""

    config.data = ml_collections.ConfigDict()
    config.data.loader = "tfds"
    config.data.builder = "pw3d"
    config.data.data_dir = ""  # tfds data dir ('' = default)
    config.data.manual_dir = "../shared/data/3dpw"
    config.data.split = "test"
    config.data.subjects = ()  # () = all
    config.data.cameras = ()
    config.data.actions = ()
    config.data.frame_stride = 25
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
