"""The shipped prior: Human3.6M training poses (S1, S5, S6, S7, S8 x 4 cameras, 732,360 poses).

Augmentation: left/right mirror + rotation about each pose's world vertical as its camera sees it
(`config.data.rotation_axis='world_vertical'`, the default): the cameras' ~11 degree downward view is kept in
the poses (the old camera-y rotation removed it; `rotation_axis='camera_y'` reproduces that).

Commands (the data folder holds VideoPose3D's data_3d_h36m.npz; here ../shared/data/h36m), then the export of
the final EMA weights into the package:

    posediff train --config configs/h36m_prior.py --workdir runs/h36m_prior \
        --config.data.manual_dir=../shared/data/h36m
    python tools/export_prior.py --workdir runs/h36m_prior --output posediff_jax/assets/prior --float16
    python tools/eval_prior_coverage.py --manual-dir ../shared/data/h36m --baseline old=OLD_PRIOR_DIR

On a machine without the dataset folder, carry a compact pose file (33 MB: world-frame poses, expanded over
the cameras when read) and train from it:

    python tools/make_pose_file.py --manual-dir ../shared/data/h36m --output runs/h36m_train_poses.npz
    posediff train --config configs/h36m_prior.py --workdir runs/h36m_prior \
        --config.data.source=npz --config.data.poses_file=runs/h36m_train_poses.npz

Residual MLP width 512 x 4 blocks (3.5 M parameters), epsilon prediction, cosine VP schedule, continuous time,
batch 1024, 27,000 AdamW steps (peak lr 1e-3, cosine decay). Time: ~24 s of steps on one H100 with the poses
resident on the device (1.16 M examples/s; the shipped prior took 3.3 min with the host pipeline it was trained
with; a 2-core CPU needs hours). Measured for the shipped prior:
final training loss 0.171; held-out S9 denoising loss 0.269 (4096 poses, the run's evaluation); 1,024
unconditional DDPM samples (50 steps): per-bone mean |length - data mean| 8.9 mm (the data's own across
subjects: 7.7 mm), mean bone lengths within 2.3 mm, left/right asymmetry 5.5 mm (data: 0). The same recipe with
batch 256 / 20,000 steps: training loss 0.190, held-out 0.248, 11.7 / 4.1 / 11.1 mm, and worse coverage and
MPJPE (README, "The shipped prior"). Longer runs (46k / 138k steps), batch 4096 and bone-proportion augmentation
(`--config.data.bone_scale_sigma`) were measured and do not improve best-of-m on detections
(docs/results_h36m.md).
"""

from posediff_jax.training.config_schema import default_config


def get_config():
    config = default_config()
    config.data.source = "h36m"
    config.data.manual_dir = "../shared/data/h36m"
    config.data.rotation_axis = "world_vertical"
    config.model.width = 512
    config.model.depth = 4
    config.training.global_batch_size = 1024
    config.training.num_steps = 27_000
    config.training.log_every = 1_000
    config.training.eval_every = 25_000
    config.training.checkpoint_every = 5_000
    return config
