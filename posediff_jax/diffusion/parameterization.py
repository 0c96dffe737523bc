"""What the network predicts (epsilon, x0 or v) and how to turn it into the Tweedie x0 estimate.

With `x_t = alpha x0 + sigma eps` (alpha^2 + sigma^2 = 1):
- epsilon: `x0 = (x_t - sigma eps) / alpha`
- x0:      `eps = (x_t - alpha x0) / sigma`
- v = alpha eps - sigma x0: `x0 = alpha x_t - sigma v`, `eps = sigma x_t + alpha v`

`alpha` / `sigma` broadcast against `x_t` (`[..., 1, 1]` for poses).
"""

from __future__ import annotations

import jax.numpy as jnp

from posediff_jax.validation import PoseDiffError

PREDICTION_TYPES = ("epsilon", "x0", "v")


def check_prediction_type(prediction_type: str) -> str:
    if prediction_type not in PREDICTION_TYPES:
        raise PoseDiffError(f"prediction_type: expected one of {PREDICTION_TYPES}, got {prediction_type!r}")
    return prediction_type


def output_to_x0_and_epsilon(output, x_t, alpha, sigma, prediction_type: str):
    """Network output -> (x0 estimate, epsilon estimate), both shaped like `x_t`."""
    check_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        epsilon = output
        x0 = (x_t - sigma * epsilon) / jnp.maximum(alpha, 1e-6)
    elif prediction_type == "x0":
        x0 = output
        epsilon = (x_t - alpha * x0) / jnp.maximum(sigma, 1e-6)
    else:
        x0 = alpha * x_t - sigma * output
        epsilon = sigma * x_t + alpha * output
    return x0, epsilon


def target_for(prediction_type: str, x0, epsilon, alpha, sigma):
    """The regression target of the denoising loss for `prediction_type`."""
    check_prediction_type(prediction_type)
    if prediction_type == "epsilon":
        return epsilon
    if prediction_type == "x0":
        return x0
    return alpha * epsilon - sigma * x0
