"""Flax score network over root-relative 17x3 poses: residual MLP blocks (SiLU, LayerNorm), Fourier time embedding.

`normalization`: 'layer_norm' (two per block and one before the head), 'final' (only the head's) or 'none'. The
zero-initialised blocks keep the residual stream's scale without theirs (as SkipInit), a cheaper DPS step on CPU;
the final one bounds the output, so a guided step off the data cannot run away (docs/decisions.md, "Network
normalisation").
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from posediff_jax.model.registry import UnknownNetworkError, register_network


def sinusoidal_time_embedding(t, dim: int, max_period: float = 10_000.0):
    """`t [...]` in [0, 1] -> `[..., dim]` sin/cos features (t scaled by 1000 like discrete DDPM steps)."""
    half = dim // 2
    frequencies = jnp.exp(-math.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    angles = (1000.0 * t)[..., None] * frequencies
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


NORMALIZATIONS = ("layer_norm", "final", "none")


def normalize(h, normalization: str, before_head: bool = False):
    """A LayerNorm of `h` where `normalization` puts one (module docstring), else `h`; inside `nn.compact`."""
    if normalization == "layer_norm" or (normalization == "final" and before_head):
        return nn.LayerNorm()(h)
    return h  # 'none', or 'final' inside a block (ScoreNetwork refuses any other value when it is built)


class ResidualBlock(nn.Module):
    width: int
    normalization: str = "layer_norm"

    @nn.compact
    def __call__(self, h, time_features):
        residual = h
        h = normalize(h, self.normalization)
        h = nn.silu(h)
        h = nn.Dense(self.width)(h)
        h = h + nn.Dense(self.width)(time_features)
        h = normalize(h, self.normalization)
        h = nn.silu(h)
        h = nn.Dense(self.width, kernel_init=nn.initializers.zeros)(h)
        return residual + h


@register_network("residual_mlp")
class ScoreNetwork(nn.Module):
    """x_t `[..., 17, 3]`, t `[...]` -> output `[..., 17, 3]` (epsilon, x0 or v, as trained)."""

    width: int = 512
    depth: int = 4
    time_embedding_dim: int = 128
    num_joints: int = 17
    normalization: str = "layer_norm"  # or "final" / "none" (module docstring)

    def __post_init__(self):
        if self.normalization not in NORMALIZATIONS:
            raise UnknownNetworkError(f"model '{self.registered_name}': normalization {self.normalization!r}, "
                                      f"expected one of {list(NORMALIZATIONS)}")
        super().__post_init__()

    @nn.compact
    def __call__(self, x_t, t):
        batch_shape = x_t.shape[:-2]
        t = jnp.broadcast_to(t, batch_shape)
        time_features = sinusoidal_time_embedding(t, self.time_embedding_dim)
        time_features = nn.Dense(self.width)(time_features)
        time_features = nn.Dense(self.width)(nn.silu(time_features))
        h = nn.Dense(self.width)(x_t.reshape(batch_shape + (self.num_joints * 3,)))
        for _ in range(self.depth):
            h = ResidualBlock(self.width, self.normalization)(h, nn.silu(time_features))
        h = nn.silu(normalize(h, self.normalization, before_head=True))
        out = nn.Dense(self.num_joints * 3, kernel_init=nn.initializers.zeros)(h)
        return out.reshape(batch_shape + (self.num_joints, 3))
