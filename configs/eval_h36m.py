"""Human3.6M S9, 240 frames, camera 54138969, Stacked-Hourglass detections, shipped prior.

posediff evaluate --config configs/eval_h36m.py [--prior DIR] [--set data.manual_dir=DIR]
Expected (2-core AMD EPYC CPU, ~4 min): MPJPE best-of-1 103.5 / best-of-200 58.0 mm, PA-MPJPE 45.5, single 82.3.
With --set evidence.source=gt_heatmaps: best-of-1 65.6 / best-of-200 27.5 mm, PA-MPJPE 21.3, single 46.6.
Full protocol (4,644 frames, all cameras): --set "data.cameras=()" --set data.max_frames=0 (docs/results.md).
"""

from posediff_jax.evaluation.config_schema import default_eval_config


def get_config():
    config = default_eval_config()
    config.dataset = "h36m"
    config.data.loader = "videopose3d"  # or 'tfds' (the project's h36m builder; same frames, see the tests)
    config.data.builder_config = "small"  # with loader 'tfds': test every 64th frame, train barely prepared
    config.data.manual_dir = "../shared/data/h36m"
    config.data.detections = "sh_pt_mpii"  # data_2d_h36m_<name>*.npz; '' for none
    config.data.subjects = ("S9", "S11")  # S11 is skipped when the data lacks it
    config.data.cameras = ("54138969",)  # () = all four
    config.data.actions = ()  # () = all
    config.data.frame_stride = 64
    config.data.max_frames = 240  # 0 = every selected frame
    config.evidence.source = "detections"  # 'gt_heatmaps' | 'detections' | 'noisy_gt' | 'heatmap_arrays'
    return config
