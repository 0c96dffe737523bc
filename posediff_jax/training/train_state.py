"""The train state PyTree (step, params, EMA params, optimiser state) and the optimiser."""

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from posediff_jax.model import make_network  # noqa: F401 (the training API's network factory, re-exported)


@flax.struct.dataclass
class TrainState:
    step: jnp.ndarray
    params: Any
    ema_params: Any
    opt_state: Any


def make_optimizer(training_config) -> optax.GradientTransformation:
    """AdamW with linear warm-up and cosine decay, after global-norm clipping."""
    learning_rate = optax.warmup_cosine_decay_schedule(
        init_value=training_config.learning_rate / (training_config.warmup_steps + 1),
        peak_value=training_config.learning_rate,
        warmup_steps=min(training_config.warmup_steps, max(training_config.num_steps - 1, 1)),
        decay_steps=max(training_config.num_steps, 2),
        end_value=training_config.learning_rate * 0.01,
    )
    return optax.chain(optax.clip_by_global_norm(training_config.grad_clip),
                       optax.adamw(learning_rate, weight_decay=training_config.weight_decay))


def create_train_state(network, optimizer, key) -> TrainState:
    params = network.init(key, jnp.zeros((1, 17, 3), jnp.float32), jnp.zeros((1,), jnp.float32))
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, ema_params=params,
                      opt_state=optimizer.init(params))


def update_ema(ema_params, params, decay: float):
    return jax.tree.map(lambda ema, new: decay * ema + (1.0 - decay) * new, ema_params, params)
