"""Tiny config for CI and tests: synthetic poses, a 32-wide network, 20 steps; runs in seconds on a CPU.

    posediff train --config configs/tiny.py --workdir /tmp/tiny

Expected result: 20 steps, loss falls below ~1.0 (it starts near 1.0), a checkpoint at step 20 and an export
in /tmp/tiny/export; a second run of the same command resumes at step 20 and does nothing more.
"""

from posediff_jax.training.config_schema import default_config


def get_config(arg=None):
    config = default_config()
    config.data.source = "synthetic"
    config.data.synthetic_count = 2_000
    config.model.width = 32
    config.model.depth = 1
    config.model.time_embedding_dim = 16
    config.training.global_batch_size = 32
    config.training.num_steps = 20
    config.training.warmup_steps = 2
    config.training.log_every = 5
    config.training.eval_every = 20
    config.training.checkpoint_every = 10
    config.training.async_checkpointing = False
    config.training.progress_bar = False
    config.eval.num_poses = 256
    config.eval.num_samples = 64
    config.eval.sampler_steps = 5
    if arg:  # e.g. 'steps=40'
        for item in arg.split(","):
            key, value = item.split("=")
            if key == "steps":
                config.training.num_steps = int(value)
    return config
