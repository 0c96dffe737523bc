"""posediff_jax: probabilistic 3D human pose estimation with guided diffusion, in JAX.

An unconditional diffusion prior over 3D poses (Human3.6M 17-joint skeleton, root-relative, millimetres,
camera frame) is trained on 3D poses alone; at sampling time every reverse step is guided by `jax.grad` of an
energy that scores agreement with the evidence (detector heatmaps, 2D keypoints, known 3D joints).
See docs/architecture.md for the layout and conventions.
"""

__version__ = "0.1.0"
