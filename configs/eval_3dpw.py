"""3DPW test set: PA-MPJPE (17-joint layout minus the head top SMPL lacks, and the LSP-14 subset) and MPJPE.

    posediff evaluate --config configs/eval_3dpw.py --workdir /tmp/eval_3dpw

Needs the project's `pw3d` tfds builder and the user's download of the test set
(`config.data.manual_dir`; 3DPW licence: non-commercial research). Not run in this repository's
closing evaluation: the data is not in `../shared/data`. Evidence defaults to heatmaps rendered from the
ground-truth 2D projection (3DPW ships no standard detections); SMPL joints stand in for H36M joints as in
`skeleton.from_smpl24`; overall = mean over frames.
With this exact 2D, `--prior auto` (the default) samples from the bone-proportion prior (`wide_proportions`;
README, "The bone-proportion prior for exact 2D"), whose body proportions vary beyond Human3.6M's five training
subjects; `--prior default` for the other shipped prior. Neither was measured on this dataset here.
"""

from posediff_jax.evaluation.config_schema import default_eval_config


def get_config():
    config = default_eval_config()
    config.dataset = "pw3d"
    config.data.builder = "pw3d"
    config.data.manual_dir = "../shared/data/3dpw"
    config.data.subjects = ()  # () = all
    config.data.frame_stride = 25
    config.data.max_frames = 300
    return config
