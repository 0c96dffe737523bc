"""Human3.6M test evaluation: best-of-m MPJPE / PA-MPJPE (P-best, J-best) and a single estimate, per action.

Default: S9 (and S11 where present), camera 54138969, every 64th frame, at most 240 frames spread evenly over all
actions, 200 hypotheses, the default sampler (50 DDIM steps x 3 guided updates per noise level, DPS heatmap
guidance, scale 0.1) on heatmaps rendered from the real Stacked-Hourglass (MPII) detections; single estimate:
the mean-shift mode of the hypotheses:

    posediff evaluate --config configs/eval_h36m.py --workdir /tmp/eval_h36m

(prior default: the shipped one; `--prior DIR` for another). Data: VideoPose3D-layout files in
`../shared/data/h36m` (`config.data.manual_dir`; Human3.6M licence: academic non-commercial).

Expected result (shipped prior, 240 real S9 frames over 15 actions, measured 2026-11-25 on an H100 in seconds;
on a 2-core AMD EPYC CPU 13.0 minutes, measured, with 105.7 / 75.2 / 68.7 / 64.7 mm and an 86.2 mm single estimate,
within ~1 mm of the H100 by float rounding; per-action tables in docs/results_h36m.md):

    m                      1      10     50     200
    MPJPE P-best (mm)      106.9  74.2   68.2   64.9
    PA-MPJPE P-best (mm)   78.6   58.0   53.4   50.5
    MPJPE J-best (mm)      106.9  56.6   45.2   39.0
    single estimate (mean-shift) 86.6 mm (mean of hypotheses 88.5); diversity 77.6 mm; calibration coverage
    0.21 / 0.68 at nominal 0.5 / 0.9 (the hypotheses are over-confident).

With `--set evidence.source=gt_heatmaps` (heatmaps rendered from the ground-truth 2D projection): 67.8 / 38.7 /
33.0 / 29.4 mm P-best, single estimate 46.7 mm.

Full protocol (every 64th frame, all 4 cameras; 4,644 S9 frames): override with
    posediff evaluate --config configs/eval_h36m.py --set "data.cameras=()" --set data.max_frames=0
(best-of-200 61.6 mm, best-of-1 103.5 mm, single estimate 84.1 mm; about an hour on a 2-core CPU, 1 minute on an
H100). Other evidence: `heatmap_arrays` with `--set evidence.heatmap_arrays_file=FILE.npz`.
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
