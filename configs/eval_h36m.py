"""Human3.6M test evaluation: best-of-m MPJPE / PA-MPJPE (P-best, J-best) and a single estimate, per action.

Default: S9 (and S11 where present), camera 54138969, every 64th frame, at most 240 frames spread evenly over all
actions, 200 hypotheses, the default sampler (50 DDIM steps x 3 guided updates per noise level, DPS heatmap
guidance, mean scale 0.1, front-loaded for detections) on heatmaps rendered from the real Stacked-Hourglass
(MPII) detections; single estimate: the mean-shift mode of the hypotheses:

    posediff evaluate --config configs/eval_h36m.py --workdir /tmp/eval_h36m

(prior: `--prior auto`, the default, picks the shipped one for the evidence: `default` for detections,
`wide_proportions` for `gt_heatmaps`; `--prior NAME|DIR` for another). Data: VideoPose3D-layout files in
`../shared/data/h36m` (`config.data.manual_dir`; Human3.6M licence: academic non-commercial).

Expected result (shipped prior, 240 real S9 frames over 15 actions; detections widened by the detector's error,
`evidence.detector_sigma = 2` heatmap pixels, and the guidance step front-loaded for them, `sampler.scale_schedule
= 'auto'` -> 'decreasing'; measured 2026-12-03 13:36 UTC on a 2-core AMD EPYC Zen 5 CPU in 3.6 minutes with one CPU
device per core, the layout `posediff evaluate` uses there; per-action tables in docs/results_h36m.md):

    m                      1      10     50     200
    MPJPE P-best (mm)      103.5  70.9   62.9   58.0
    PA-MPJPE P-best (mm)   74.9   54.4   49.0   45.5
    MPJPE J-best (mm)      103.5  50.1   36.7   29.4
    single estimate (mean-shift) 82.3 mm; diversity 85.0 mm; calibration coverage 0.32 / 0.77 at nominal 0.5 / 0.9
    (the hypotheses are still over-confident). One draw (`mpjpe_one_draw`, one hypothesis's MPJPE averaged over the
    200): 104.2 mm. Best-of-1 reads the first hypothesis only and moves with the seed: with the LayerNorm prior
    shipped until 2026-12-03 (105.5 / 71.0 / 62.7 / 58.2, single 81.9) `--set seed=1` gave 101.9 / 70.9 / 63.0 /
    58.4 mm, one draw 103.9.

With `--set sampler.scale_schedule=constant` (the same step at every noise level, the default until then): 106.9 /
73.4 / 66.4 / 61.9 mm, single estimate 84.2 mm; adding `--set evidence.detector_sigma=0` (detections taken as exact
keypoints): 105.7 / 75.2 / 68.7 / 64.7 mm, single estimate 86.2 mm on the same CPU (H100: 106.9 / 74.2 / 68.2 / 64.9,
86.6).
With `--set evidence.source=gt_heatmaps` (heatmaps rendered from the ground-truth 2D projection, exact: the
detector sigma does not apply, the step stays constant and `--prior auto` takes the bone-proportion prior):
65.6 / 36.9 / 30.8 / 27.5 mm P-best, PA-MPJPE best-of-200 21.3, single estimate 46.6 mm (2-core AMD EPYC Zen 5,
2026-12-03, 3.5 minutes; the LayerNorm bone-proportion prior shipped until that day: 64.1 / 37.5 / 31.0 / 27.7,
21.2, 45.7); with `--prior default`: 63.9 / 37.2 / 32.3 / 29.4 mm, single estimate 46.7 mm (same CPU, 2026-12-03).

With `--set sampler.matmul_dtype=bfloat16` (the network's products with bfloat16 operands and float32 sums, ~3x
faster where the CPU has bfloat16 matrix units; 2-core Intel Xeon with AMX, 2026-12-03): detections 104.4 / 70.9 /
62.8 / 58.1 mm, PA-MPJPE best-of-200 45.6, single estimate 82.2 (float32 on the same CPU: 103.7 / 70.8 / 62.9 / 58.0,
45.5, 80.9); GT-2D heatmaps 65.7 / 36.8 / 30.8 / 27.5, 21.2, 46.5 in 108 s (float32: the figures above, 287 s).

Full protocol (every 64th frame, all 4 cameras; 4,644 S9 frames): override with
    posediff evaluate --config configs/eval_h36m.py --set "data.cameras=()" --set data.max_frames=0
(the LayerNorm priors shipped until 2026-12-03: 102.3 / 69.4 / 60.9 / 56.0 mm P-best best-of-1 / 10 / 50 / 200,
PA-MPJPE best-of-200 42.6, single estimate 81.0 mm; 84 minutes on a 2-core AMD EPYC Zen 5, 2026-12-02; with
`--set evidence.source=gt_heatmaps` 64.9 / 38.0 / 31.3 / 27.6 mm, single estimate 45.1 mm, 94 minutes; before the
detector sigma and the schedule, `--set evidence.detector_sigma=0 --set sampler.scale_schedule=constant`: 103.5 /
72.5 / 65.4 / 61.6 mm, single estimate 84.1 mm, 1 minute on an H100).
Other evidence: `heatmap_arrays` with `--set evidence.heatmap_arrays_file=FILE.npz`.
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
