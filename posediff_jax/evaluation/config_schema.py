"""Evaluation config keys and defaults (locked); `configs/eval_*.py` start from `default_eval_config()`."""

import ml_collections

from posediff_jax.guidance.render import DETECTOR_SIGMA, RENDER_SIGMA
from posediff_jax.sampling.config import sampler_section


def default_eval_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.evaluator = "guided_best_of_m"  # a registered evaluator (evaluation/evaluators.py)
    config.dataset = "h36m"  # 'h36m' | 'mpi_inf_3dhp' | 'pw3d'
    config.workdir = ""  # default ./posediff_eval_<dataset>

    config.data = ml_collections.ConfigDict()
    config.data.loader = "tfds"  # 'tfds' (the project's builders) | 'videopose3d' (Human3.6M files read directly)
    config.data.builder = ""  # tfds builder name ('' = the dataset's)
    config.data.builder_config = ""  # the builder's config name ('' = its default: h36m 'protocol', others 'stride1')
    config.data.data_dir = ""  # tfds data dir ('' = tfds default)
    config.data.manual_dir = ""
    config.data.split = "test"
    config.data.detections = ""  # Human3.6M: data_2d_h36m_<name>*.npz; '' for none
    config.data.subjects = ()  # () = all
    config.data.cameras = ()  # () = all
    config.data.actions = ()  # () = all
    config.data.frame_stride = 1
    config.data.max_frames = 0  # 0 = every selected frame; else that many spread evenly
    config.data.views = 0  # 0: each camera's frames alone; N: a rig of N cameras, cameras[0] the reference

    config.evidence = ml_collections.ConfigDict()
    config.evidence.source = "gt_heatmaps"  # 'gt_heatmaps' | 'detections' | 'noisy_gt' | 'heatmap_arrays'
    config.evidence.sigma = RENDER_SIGMA  # heatmap pixels (64 x 64 heatmap over 1.25 x the person's box)
    # 'detections' / 'noisy_gt': the keypoint error (heatmap px), rendered as sqrt(sigma^2 + detector_sigma^2).
    config.evidence.detector_sigma = DETECTOR_SIGMA
    config.evidence.heatmap_size = 64
    config.evidence.keypoint_noise_px = 0.0  # 'noisy_gt': Gaussian noise on the ground-truth 2D (image px per axis)
    config.evidence.heatmap_arrays_file = ""
    config.evidence.use_gt_root = False  # solve the root translation per hypothesis
    config.evidence.undistort = False  # keypoints undistorted with the dataset's lens model before rendering
    config.evidence.outlier_probability = 0.0  # p of the heatmap inlier/outlier mixture (0: fixed eps floor)
    config.evidence.virtual_joints = "none"  # 'none' | 'mpii': the detector's joint definitions (skeleton.py)
    config.evidence.root_reweighting = 0  # IRLS iterations of the root solve (0: plain weighted solve)

    # The one sampler surface (posediff_jax/sampling/config.py): the same defaults as every command.
    config.sampler = sampler_section("heatmap")

    config.completion = ml_collections.ConfigDict()  # evaluator 'completion' (evaluation/completion_benchmark.py)
    config.completion.known_sets = ("lower_body_known", "upper_body_known", "right_arm_missing")
    config.completion.num_poses = 30
    config.completion.sigma_mm = 10.0

    config.plausibility = ml_collections.ConfigDict()  # evaluator 'plausibility' (evaluation/plausibility_benchmark.py)
    config.plausibility.num_samples = 1024
    config.plausibility.reference_subjects = ("S1", "S5", "S6", "S7", "S8")
    config.plausibility.reference_stride = 50
    config.plausibility.num_real = 1000

    config.num_hypotheses = (1, 10, 50, 200)
    config.calibration_levels = (0.5, 0.9)
    # The single estimate beside best-of-m (sampling/aggregate.py); mean-shift seeks the densest mode.
    config.aggregation = "mean_shift"
    config.batch_size = 8
    config.seed = 0
    config.save_hypotheses = False
    config.figure = True  # results.png: best-of-m curves and the per-group breakdown (evaluation/figures.py)
    config.digits = 1
    # Processes sharing one workdir compute the batches b % num_shards == shard_index (docs/multihost.md).
    config.num_shards = 1
    config.shard_index = 0
    config.lock()
    return config


def _whole(name: str, value, minimum: int) -> int:
    """`value` as an int >= `minimum`, or a `ConfigError` naming the key (no bools or fractions)."""
    from posediff_jax.config_files import ConfigError
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < minimum:
        raise ConfigError(f"config.{name}: expected a whole number >= {minimum}, got {value!r}")
    return int(value)


def validate_eval_config(config) -> ml_collections.ConfigDict:
    """Raises `ConfigError` naming the key for a value no evaluator can run with; returns the config."""
    from posediff_jax.config_files import ConfigError
    for name, minimum in (("batch_size", 1), ("seed", 0), ("data.max_frames", 0), ("data.frame_stride", 1),
                          ("plausibility.num_samples", 1), ("plausibility.reference_stride", 1),
                          ("plausibility.num_real", 1), ("completion.num_poses", 1)):
        section, _, key = name.rpartition(".")
        _whole(name, (config[section] if section else config)[key], minimum)
    _whole("digits", config.get("digits", 1), 0)
    num_shards = _whole("num_shards", config.get("num_shards", 1), 1)
    shard_index = _whole("shard_index", config.get("shard_index", 0), 0)
    if shard_index >= num_shards:
        raise ConfigError(f"config.shard_index: expected 0..{num_shards - 1} (num_shards is {num_shards}), "
                          f"got {shard_index}")
    evaluator = config.get("evaluator", "guided_best_of_m")
    if num_shards > 1 and evaluator != "guided_best_of_m":
        raise ConfigError(f"config.num_shards: only the benchmark evaluator 'guided_best_of_m' is sharded; "
                          f"'{evaluator}' runs whole (num_shards=1)")
    hypotheses = config.num_hypotheses
    if not isinstance(hypotheses, (tuple, list)) or not hypotheses:
        raise ConfigError(f"config.num_hypotheses: expected a non-empty tuple of counts >= 1, e.g. (1, 10), "
                          f"got {hypotheses!r}")
    for count in hypotheses:
        _whole(f"num_hypotheses entry {count!r}", count, 1)
    for level in config.calibration_levels:
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
            raise ConfigError(f"config.calibration_levels: expected levels in (0, 1), got {level!r}")
    sigma = config.completion.sigma_mm
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise ConfigError(f"config.completion.sigma_mm: expected a positive number of mm, got {sigma!r}")
    return config
