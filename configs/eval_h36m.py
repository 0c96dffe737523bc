"""Human3.6M test evaluation: best-of-m MPJPE / PA-MPJPE (P-best, J-best), per action and averaged.

Default (CPU-sized, a few minutes on 2 cores): S9 (and S11 where present), camera 54138969, every 64th frame,
at most 240 frames spread evenly over all actions, 200 hypotheses, 25 DDIM steps, DPS heatmap guidance on
heatmaps rendered from the real Stacked-Hourglass (MPII) detections:

    posediff evaluate --config configs/eval_h36m.py --workdir /tmp/eval_h36m

(checkpoint default: the shipped prior; `--checkpoint DIR` for another). Data: VideoPose3D-layout files in
`../shared/data/h36m` (`config.data.manual_dir`; Human3.6M licence: academic non-commercial).

Expected result: not yet measured with the shipped prior (it was still being trained when this config was
written). Pipeline check on the same 240 real S9 frames with the analytic Gaussian stand-in prior
(`sampling.gaussian_prior`, no network; 2026-11-24, ~25 s on 2 CPU cores): MPJPE P-best 258.4 mm (m=1) ->
213.8 mm (m=200), J-best 124.3 mm (m=200), diversity 112.4 mm, coverage 0.15 / 0.36 at q = 0.5 / 0.9.
The trained prior must do far better; record its table here and in docs/benchmarks.md.

Full protocol (every 64th frame, all 4 cameras, S9 + S11, ~4,600 frames with S11): override with
    posediff evaluate --config configs/eval_h36m.py --set "data.cameras=()" --set data.max_frames=0
(hours on a CPU; minutes on a GPU). Other evidence: `--set evidence.source=gt_heatmaps` (heatmaps rendered
from the ground-truth 2D projection) or `heatmap_arrays` with `--set evidence.heatmap_arrays_file=FILE.npz`.
"""

from posediff_jax.evaluation.config_schema import default_eval_config


def get_config():
    config = default_eval_config()
    config.dataset = "h36m"
    config.data.loader = "videopose3d"  # or 'tfds' (the project's h36m builder)
    config.data.manual_dir = "../shared/data/h36m"
    config.data.detections = "sh_pt_mpii"  # data_2d_h36m_<name>*.npz; '' for none
    config.data.subjects = ("S9", "S11")  # S11 is skipped when the data lacks it
    config.data.cameras = ("54138969",)  # () = all four
    config.data.actions = ()  # () = all
    config.data.frame_stride = 64
    config.data.max_frames = 240  # 0 = every selected frame
    config.evidence.source = "detections"  # 'gt_heatmaps' | 'detections' | 'heatmap_arrays'
    return config
