"""The number format of a Flax network's matrix products, chosen when it is called, not when it is trained.

`bfloat16_matmuls()`, entered while a network is traced, runs every `flax.linen.Dense` layer's
product with both operands rounded to bfloat16 and the sum accumulated in float32
(`lax.dot_general(..., preferred_element_type=float32)`); the bias add, activations, residual stream, LayerNorm
and whatever the caller does with the output stay float32. The weights are not changed or copied: the rounding is
part of the traced program, so one prior serves both formats. Its input gradient (DPS guidance) runs the same way:
the backward products take bfloat16 operands too.

Why: CPUs with bfloat16 matrix units (Intel AMX: Sapphire Rapids and later) run these products several times
faster than float32 (`[2048, 512] @ [512, 512]` under XLA: 1,303 against 278 GFLOP/s on a 2-core Xeon with AMX;
the DPS sampler 2.9-3.3x faster, docs/benchmarks.md); GPUs and TPUs have such units too (on a TPU, JAX's default
float32 precision already rounds operands to bfloat16). bfloat16 keeps float32's range and 8 bits of mantissa (at
most 2^-9 relative rounding per operand, about 0.4 % in a product), small beside the sampler's own noise; what it
does to accuracy is measured, not assumed (docs/results_h36m.md, "bfloat16 matrix products"). The sampler's
`matmul_dtype` setting chooses it (`sampling/config.py`), and `config.training.matmul_dtype` for training (mixed
precision: float32 parameters, optimizer and loss; the gradient's products in bfloat16).
"""

from __future__ import annotations

import contextlib

import flax.linen as nn
import jax
import jax.numpy as jnp


def _contract_last(left, right, right_axis: int):
    """`left [..., k] . right` over `left`'s last axis and `right`'s axis `right_axis`, bfloat16 operands,
    float32 sums."""
    return jax.lax.dot_general(left.astype(jnp.bfloat16), right.astype(jnp.bfloat16),
                               (((left.ndim - 1,), (right_axis,)), ((), ())), preferred_element_type=jnp.float32)


@jax.custom_vjp
def bfloat16_product(inputs, kernel):
    """`inputs [..., k] @ kernel [k, n] -> [..., n]` for float32 operands: both rounded to bfloat16, sums in
    float32, and the same for both products of its gradient."""
    return _contract_last(inputs, kernel, 0)


def _product_forward(inputs, kernel):
    rounded = (inputs.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16))
    return _contract_last(*rounded, 0), rounded


def _product_backward(saved, cotangent):
    # The gradient's products in bfloat16 too: without this rule JAX's transpose multiplies the float32 cotangent
    # by the rounded operand in float32, and DPS guidance (the input gradient) would gain nothing.
    inputs, kernel = saved
    cotangent = cotangent.astype(jnp.bfloat16)
    inputs_gradient = _contract_last(cotangent, kernel, 1)  # [..., n] . [k, n] over n -> [..., k]
    leading = tuple(range(inputs.ndim - 1))
    # Summed over the batch: where the batch is split over a mesh axis (sharded training), the sum is the
    # kernel's own sharding (replicated), as JAX's transpose of a product gives it.
    kernel_gradient = jax.lax.dot_general(inputs, cotangent, ((leading, leading), ((), ())),
                                          preferred_element_type=jnp.float32,
                                          out_sharding=jax.typeof(kernel).sharding)  # [k, n]
    return inputs_gradient, kernel_gradient  # float32, as the operands were (`_bfloat16_dense`)


bfloat16_product.defvjp(_product_forward, _product_backward)


def _bfloat16_dense(next_call, args, kwargs, context):
    """A `nn.intercept_methods` interceptor: a Dense layer's `__call__` through `bfloat16_product`."""
    module = context.module
    if not (isinstance(module, nn.Dense) and context.method_name == "__call__"):
        return next_call(*args, **kwargs)
    inputs = args[0] if args else kwargs["inputs"]
    kernel = module.get_variable("params", "kernel")
    # During `init` the parameters do not exist yet (let the layer create them); other formats are left alone.
    if kernel is None or inputs.dtype != jnp.float32 or kernel.dtype != jnp.float32:
        return next_call(*args, **kwargs)
    outputs = bfloat16_product(inputs, kernel)
    if module.use_bias:
        outputs = outputs + module.get_variable("params", "bias")
    return outputs


def bfloat16_matmuls():
    """A context manager under which the Flax networks traced compute their Dense products with bfloat16 operands
    and float32 sums (module docstring)."""
    return nn.intercept_methods(_bfloat16_dense)


def matmul_context(matmul_dtype: str):
    """The context to trace a network in for products in `matmul_dtype`: 'float32' (nothing changes) or
    'bfloat16' (`bfloat16_matmuls`)."""
    if matmul_dtype == "float32":
        return contextlib.nullcontext()
    if matmul_dtype == "bfloat16":
        return bfloat16_matmuls()
    raise ValueError(f"matmul_dtype: expected 'float32' or 'bfloat16', got {matmul_dtype!r}")
