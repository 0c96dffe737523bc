"""The number format of a Flax network's matrix products, chosen when it is traced, not when it is trained.

Under `bfloat16_matmuls()` every `nn.Dense` product takes bfloat16 operands with float32 sums, its gradient's
products too (DPS guidance); everything else stays float32 and the weights are not copied, so one prior serves
both formats. bfloat16 matrix units (AMX, GPUs, TPUs) run them several times faster, with a rounding small beside
the sampler's noise (docs/decisions.md, "bfloat16 matrix products"). Chosen by `matmul_dtype` (sampler, training).
"""

from __future__ import annotations

import contextlib

import flax.linen as nn
import jax
import jax.numpy as jnp


def _contract_last(left, right, right_axis: int):
    """`left [..., k] . right` over `right`'s axis `right_axis`: bfloat16 operands, float32 sums."""
    return jax.lax.dot_general(left.astype(jnp.bfloat16), right.astype(jnp.bfloat16),
                               (((left.ndim - 1,), (right_axis,)), ((), ())), preferred_element_type=jnp.float32)


@jax.custom_vjp
def bfloat16_product(inputs, kernel):
    """`inputs [..., k] @ kernel [k, n] -> [..., n]` in bfloat16 with float32 sums, its gradient's products too."""
    return _contract_last(inputs, kernel, 0)


def _product_forward(inputs, kernel):
    rounded = (inputs.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16))
    return _contract_last(*rounded, 0), rounded


def _product_backward(saved, cotangent):
    # Without this rule JAX's transpose would multiply in float32, and DPS guidance would gain nothing.
    inputs, kernel = saved
    cotangent = cotangent.astype(jnp.bfloat16)
    inputs_gradient = _contract_last(cotangent, kernel, 1)  # [..., n] . [k, n] over n -> [..., k]
    leading = tuple(range(inputs.ndim - 1))
    # Summed over the batch into the kernel's own sharding (replicated in sharded training), as JAX's transpose is.
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
    """A context under which traced Flax networks run their Dense products in bfloat16 (module docstring)."""
    return nn.intercept_methods(_bfloat16_dense)


def matmul_context(matmul_dtype: str):
    """The context to trace a network in for products in `matmul_dtype`: 'float32' or 'bfloat16'."""
    if matmul_dtype == "float32":
        return contextlib.nullcontext()
    if matmul_dtype == "bfloat16":
        return bfloat16_matmuls()
    raise ValueError(f"matmul_dtype: expected 'float32' or 'bfloat16', got {matmul_dtype!r}")
