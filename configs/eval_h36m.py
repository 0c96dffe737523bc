"""Human3.6M test evaluation: best-of-m MPJPE / PA-MPJPE (P-best, J-best), per action and averaged.

Default (CPU-sized, 80 s wall-clock on 2 cores): S9 (and S11 where present), camera 54138969, every 64th frame,
at most 240 frames spread evenly over all actions, 200 hypotheses, 50 DDIM steps, DPS heatmap guidance
(scale 0.1) on heatmaps rendered from the real Stacked-Hourglass (MPII) detections:

    posediff evaluate --config configs/eval_h36m.py --workdir /tmp/eval_h36m

(checkpoint default: the shipped prior; `--checkpoint DIR` for another). Data: VideoPose3D-layout files in
`../shared/data/h36m` (`config.data.manual_dir`; Human3.6M licence: academic non-commercial).

Expected result (shipped prior, 240 real S9 frames over 15 actions, measured 2026-11-25 on a 2-core CPU;
per-action table in docs/results_h36m.md):

    m                      1      10     50     200
    MPJPE P-best (mm)      162.4  87.2   72.6   66.4
    PA-MPJPE P-best (mm)   110.8  65.3   56.2   51.5
    MPJPE J-best (mm)      162.4  59.8   41.2   31.8
    aggregated (mean) estimate 118.4 mm (PA 83.9); diversity 170.2 mm; calibration coverage 0.54 / 0.96 at
    nominal 0.5 / 0.9 (the hypotheses' spread is slightly too wide).

Full protocol (every 64th frame, all 4 cameras, S9 + S11, ~4,600 frames with S11): override with
    posediff evaluate --config configs/eval_h36m.py --set "data.cameras=()" --set data.max_frames=0
(hours on a CPU; minutes on a GPU). Other evidence: `--set evidence.source=gt_heatmaps` (heatmaps rendered
from the ground-truth 2D projection) or `heatmap_arrays` with `--set evidence.heatmap_arrays_file=FILE.npz`.
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
    config.evidence.source = "detections"  # 'gt_heatmaps' | 'detections' | 'heatmap_arrays'
    return config
