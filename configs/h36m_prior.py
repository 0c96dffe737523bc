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

Residual MLP width 512 x 4 blocks (3.5 M parameters) with one LayerNorm, before the output head
(`model.normalization='final'`: the blocks' LayerNorms cost DPS sampling 10-13 % of its speed on CPU and were
measured to buy nothing; the final one keeps the output bounded, which stiff guidance needs), epsilon prediction,
cosine VP schedule, continuous time, batch 1024, 27,000 AdamW steps (peak lr 1e-3, cosine decay). Time: 34.8 min
on a 2-core AMD EPYC Zen 5 CPU (2026-12-03, ~13k examples/s, poses resident on the devices; the LayerNorm network
took ~24 s on one H100). Measured for the shipped prior: final training loss 0.165; held-out S9 denoising loss
0.276 (4096 poses, the run's evaluation); 1,024 unconditional DDPM samples (50 steps): per-bone mean |length -
data mean| 8.4 mm (the data's own across subjects: 7.7 mm), mean bone lengths within 1.6 mm, left/right asymmetry
3.9 mm (data: 0). The LayerNorm network of the same recipe (`--config.model.normalization=layer_norm`, shipped
until 2026-12-03, trained on an H100): 0.171, 0.269, 8.9 / 2.3 / 5.5 mm, and the same best-of-m on the 240 S9
frames (docs/results_h36m.md, "A prior with one LayerNorm"). Longer runs (46k / 138k steps), batch 4096 and
bone-proportion augmentation (`--config.data.bone_scale_sigma`) were measured with the LayerNorm network and do
not improve best-of-m on detections (docs/results_h36m.md).
"""

from posediff_jax.training.config_schema import default_config


def get_config():
    config = default_config()
    config.data.source = "h36m"
    config.data.manual_dir = "../shared/data/h36m"
    config.data.rotation_axis = "world_vertical"
    config.model.width = 512
    config.model.depth = 4
    config.model.normalization = "final"  # one LayerNorm, before the head (model/score_network.py)
    config.training.global_batch_size = 1024
    config.training.num_steps = 27_000
    config.training.log_every = 1_000
    config.training.eval_every = 25_000
    config.training.checkpoint_every = 5_000
    return config
