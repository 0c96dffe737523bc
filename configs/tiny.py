"""Tiny plumbing config for CI and tests: synthetic poses, a 32-wide 1-block network, 20 steps.

posediff train --config configs/tiny.py[:steps=N] --workdir /tmp/tiny
Expected (seconds on a CPU): loss near 1.0, checkpoints at steps 5, 10, 20, an export in /tmp/tiny/export;
a rerun resumes at step 20 and does nothing more.
"""

from posediff_jax.training.config_schema import ConfigError, default_config


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
            key, _, value = item.partition("=")
            if key != "steps":
                raise ConfigError(f"configs/tiny.py: unknown argument {key!r} (known: steps=N)")
            config.training.num_steps = int(value)
    return config
