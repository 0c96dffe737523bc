"""PyTorch eager port of the guided sampler: the same network, heatmap energy and DDIM + DPS / x0 guidance.

`tools/bench_sampler.py --baseline torch` times the JAX sampler against it on the same machine, with the same
weights and initial noise, and checks that both give the same samples. Needs PyTorch (`pip install -e '.[bench]'`);
nothing in the library or the default tests imports this file. Each part transcribes the JAX code it names:

- `ScoreNetwork` (model/score_network.py): sinusoidal time embedding -> 2 dense layers; pose -> dense; `depth`
  residual blocks (LayerNorm, SiLU, dense, + dense(time), LayerNorm, SiLU, dense); LayerNorm, SiLU, dense, each
  LayerNorm only where the parameters have it (`model.normalization`). Flax kernels `[in, out]` become `F.linear`
  weights `[out, in]`; the time path depends on t only, so it runs once per step for the batch, as under `vmap`.
- `Prior.denoise` (epsilon prediction, x0 clip) with the root pinned (`guided.denoise_with_root`).
- `heatmap_energy` (guidance/heatmap.py): closed-form root solve, pinhole projection, image -> heatmap affine,
  bilinear read with zero outside the grid, `-log(h + eps) + outside_weight * d^2`, weighted sum.
- `guided.guided_denoise` ('dps': the gradient through the network, by autograd over the batch's summed energy,
  per hypothesis since hypotheses do not interact; 'x0': the gradient at the Tweedie estimate), root gradient
  zeroed, per-hypothesis norm clip, guided x0, unguided eps; then `updates.ddim_step` with eta = 0.

With `matmul_dtype='bfloat16'` every dense product takes bfloat16 operands (weights rounded once, activations at
each call) and the rest stays float32, as in JAX; PyTorch's CPU matmul returns the product rounded to bfloat16
where XLA keeps the float32 sum, one more rounding per layer. All frames and hypotheses run as one batch
`[frames, m, ...]` (`chunk` splits the hypotheses to bound memory); `initial_noise` reproduces the JAX sampler's
starting noise, so `sample` returns its poses up to float32 rounding.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

ROOT_JOINT = 0
NUM_JOINTS = 17


def _tensor(value, device="cpu"):
    return torch.from_numpy(np.array(value, dtype=np.float32)).to(device)


# ------------------------------------------------------------------------------------------------ network
class TorchScoreNetwork:
    """Eager port of `ScoreNetwork` from Flax parameters (`prior.params`); `__call__(x_t [B, 17, 3], t scalar)`."""

    def __init__(self, params, time_embedding_dim: int | None = None, device="cpu", matmul_dtype: str = "float32"):
        params = params.get("params", params)
        self.device = device
        if matmul_dtype not in ("float32", "bfloat16"):
            raise ValueError(f"torch baseline: matmul_dtype must be 'float32' or 'bfloat16', got {matmul_dtype!r}")
        self.operand_dtype = torch.bfloat16 if matmul_dtype == "bfloat16" else None

        def dense(tree):
            weight = _tensor(np.asarray(tree["kernel"]).T.copy(), device)
            if self.operand_dtype is not None:
                weight = weight.to(self.operand_dtype)  # rounded once: the operand every call uses
            return weight, _tensor(tree["bias"], device)

        def norm(tree, name):  # None: a network without this LayerNorm (normalization 'final' / 'none')
            if name not in tree:
                return None
            return _tensor(tree[name]["scale"], device), _tensor(tree[name]["bias"], device)

        self.time_in, self.time_out = dense(params["Dense_0"]), dense(params["Dense_1"])
        self.pose_in, self.head = dense(params["Dense_2"]), dense(params["Dense_3"])
        self.final_norm = norm(params, "LayerNorm_0")
        self.blocks = []
        index = 0
        while f"ResidualBlock_{index}" in params:
            block = params[f"ResidualBlock_{index}"]
            self.blocks.append({
                "norm0": norm(block, "LayerNorm_0"), "dense0": dense(block["Dense_0"]),
                "time": dense(block["Dense_1"]), "norm1": norm(block, "LayerNorm_1"), "dense2": dense(block["Dense_2"]),
            })
            index += 1
        self.time_embedding_dim = time_embedding_dim or int(self.time_in[0].shape[1])
        self.width = int(self.pose_in[0].shape[0])

    def time_features(self, t: float):
        """`[1, width]` shared time features `silu(Dense_1(silu(Dense_0(embedding(t)))))` for one scalar t."""
        half = self.time_embedding_dim // 2
        steps = torch.arange(half, dtype=torch.float32, device=self.device)
        frequencies = torch.exp(-math.log(10_000.0) * steps / half)
        angles = (1000.0 * torch.tensor(t, dtype=torch.float32, device=self.device)) * frequencies
        embedding = torch.cat([torch.sin(angles), torch.cos(angles)])[None]
        features = self._linear(embedding, *self.time_in)
        features = self._linear(F.silu(features), *self.time_out)
        return F.silu(features)

    def _linear(self, h, weight, bias):
        """`h @ weight.T + bias` (float32 out), with bfloat16 operands in the bfloat16 mode."""
        if self.operand_dtype is None:
            return F.linear(h, weight, bias)
        return F.linear(h.to(self.operand_dtype), weight).float() + bias

    def _layer_norm(self, h, norm):
        return h if norm is None else F.layer_norm(h, (self.width,), *norm, eps=1e-6)

    def __call__(self, x_t, t: float):
        """`x_t` `[..., 17, 3]` model space, scalar t -> output `[..., 17, 3]` (epsilon)."""
        batch_shape = x_t.shape[:-2]
        time_features = self.time_features(t)
        h = self._linear(x_t.reshape(-1, NUM_JOINTS * 3), *self.pose_in)
        for block in self.blocks:
            time_bias = self._linear(time_features, *block["time"])  # [1, width], once per step
            residual = h
            h = F.silu(self._layer_norm(h, block["norm0"]))
            if self.operand_dtype is None:
                h = torch.addmm(block["dense0"][1] + time_bias[0], h, block["dense0"][0].T)
            else:
                h = self._linear(h, block["dense0"][0], block["dense0"][1] + time_bias[0])
            h = F.silu(self._layer_norm(h, block["norm1"]))
            h = residual + self._linear(h, *block["dense2"])
        h = F.silu(self._layer_norm(h, self.final_norm))
        return self._linear(h, *self.head).reshape(*batch_shape, NUM_JOINTS, 3)


# ------------------------------------------------------------------------------------------------ energy
class TorchHeatmapEnergy:
    """Port of `heatmap_energy` for a batch of frames: evidence leaves `[frames, ...]`, poses `[frames, m, 17, 3]`."""

    def __init__(self, evidence, eps: float = 1e-4, outside_weight: float = 0.1, ridge: float = 1e-6, device="cpu"):
        self.heatmaps = _tensor(evidence.heatmaps, device)  # [F, 17, H, W]
        self.affine = _tensor(evidence.image_to_heatmap, device)  # [F, 2, 3]
        self.weights = _tensor(evidence.joint_weights, device)  # [F, 17]
        self.intrinsics = _tensor(evidence.intrinsics, device)  # [F, 3, 3]
        self.root_given = _tensor(evidence.root_translation, device)  # [F, 3]
        self.use_given_root = torch.from_numpy(np.array(evidence.use_given_root, dtype=bool)).to(device)  # [F]
        self.eps, self.outside_weight = eps, outside_weight
        frames, joints, self.height, self.width = self.heatmaps.shape
        k = self.intrinsics
        fx, fy, skew, cx, cy = k[:, 0, 0, None], k[:, 1, 1, None], k[:, 0, 1, None], k[:, 0, 2, None], k[:, 1, 2, None]
        keypoints = _tensor(evidence.keypoints_2d, device)
        y = (keypoints[..., 1] - cy) / fy
        x = (keypoints[..., 0] - cx - skew * y) / fx
        self.x, self.y = x[:, None], y[:, None]  # [F, 1, 17] normalised keypoints
        ones, zeros = torch.ones_like(x), torch.zeros_like(x)
        rows_x = torch.stack([ones, zeros, -x], -1)  # [F, 17, 3]
        rows_y = torch.stack([zeros, ones, -y], -1)
        w = self.weights[..., None]
        normal = torch.einsum("fji,fjk->fik", rows_x * w, rows_x) + torch.einsum("fji,fjk->fik", rows_y * w, rows_y)
        scale = torch.diagonal(normal, dim1=-2, dim2=-1).sum(-1)[:, None, None] / 3.0
        self.normal = (normal + (ridge * scale + 1e-12) * torch.eye(3, device=device))[:, None]  # [F, 1, 3, 3]
        self.rows_x_w, self.rows_y_w = (rows_x * w)[:, None], (rows_y * w)[:, None]  # [F, 1, 17, 3]
        self.joint_index = torch.arange(joints, device=device)[None, None, :]
        self.frame_index = torch.arange(frames, device=device)[:, None, None]

    def root_translation(self, pose):
        """`[F, m, 3]` mm: the closed-form solve (or the given root)."""
        big_x, big_y, big_z = pose[..., 0], pose[..., 1], pose[..., 2]
        rhs_x = self.x * big_z - big_x
        rhs_y = self.y * big_z - big_y
        rhs = torch.einsum("fmji,fmj->fmi", self.rows_x_w.expand(-1, pose.shape[1], -1, -1), rhs_x) + torch.einsum(
            "fmji,fmj->fmi", self.rows_y_w.expand(-1, pose.shape[1], -1, -1), rhs_y)
        solved = torch.linalg.solve(self.normal, rhs[..., None])[..., 0]
        return torch.where(self.use_given_root[:, None, None], self.root_given[:, None], solved)

    def __call__(self, pose):
        """`[F, m]` energies of poses `[F, m, 17, 3]` mm (root at zero)."""
        points = pose + self.root_translation(pose)[..., None, :]
        depth = torch.clamp(points[..., 2:3], min=1e-3)
        normalized = points[..., :2] / depth
        k = self.intrinsics[:, None, None]
        nx, ny = normalized[..., 0], normalized[..., 1]
        px = k[..., 0, 0] * nx + k[..., 0, 1] * ny + k[..., 0, 2]
        py = k[..., 1, 1] * ny + k[..., 1, 2]
        a = self.affine[:, None, None]
        hx = px * a[..., 0, 0] + py * a[..., 0, 1] + a[..., 0, 2]
        hy = px * a[..., 1, 0] + py * a[..., 1, 1] + a[..., 1, 2]
        values = self._bilinear(hx, hy)
        below_x, below_y = torch.clamp(-hx, min=0.0), torch.clamp(-hy, min=0.0)
        above_x, above_y = torch.clamp(hx - (self.width - 1.0), min=0.0), torch.clamp(hy - (self.height - 1.0), min=0.0)
        excess_x, excess_y = below_x + above_x, below_y + above_y
        outside = torch.sqrt(excess_x**2 + excess_y**2 + 1e-12) - 1e-6
        joint_energy = -torch.log(torch.clamp(values, min=0.0) + self.eps) + self.outside_weight * outside**2
        weights = self.weights[:, None]
        return torch.where(weights > 0, weights * joint_energy, torch.zeros_like(joint_energy)).sum(-1)

    def _bilinear(self, x, y):
        """`[F, m, 17]` values of each joint's heatmap at (x, y), zero outside the grid."""
        x_floor, y_floor = torch.floor(x.detach()), torch.floor(y.detach())
        wx1, wy1 = x - x_floor, y - y_floor
        wx0, wy0 = 1.0 - wx1, 1.0 - wy1
        column0, row0 = x_floor.to(torch.int64), y_floor.to(torch.int64)

        def read(row, column):
            inside = (row >= 0) & (row < self.height) & (column >= 0) & (column < self.width)
            value = self.heatmaps[self.frame_index, self.joint_index,
                                  row.clamp(0, self.height - 1), column.clamp(0, self.width - 1)]
            return torch.where(inside, value, torch.zeros_like(value))

        return (wy0 * (wx0 * read(row0, column0) + wx1 * read(row0, column0 + 1))
                + wy1 * (wx0 * read(row0 + 1, column0) + wx1 * read(row0 + 1, column0 + 1)))


# ------------------------------------------------------------------------------------------------ sampler
def cosine_alpha_bar(t, offset: float = 0.008, min_alpha_bar: float = 1e-5):
    """`VPSchedule('cosine').alpha_bar` in float32 for a float32 tensor t."""
    at_zero = math.cos(0.5 * math.pi * offset / (1 + offset)) ** 2
    value = torch.cos(0.5 * math.pi * (t + offset) / (1 + offset)) ** 2 / at_zero
    return torch.clamp(value, min_alpha_bar, 1.0)


class TorchGuidedSampler:
    """DDIM (eta = 0) with 'dps' or 'x0' heatmap guidance; mirrors `make_sampler(prior, make_heatmap_energy(), ...)`."""

    @classmethod
    def from_config(cls, prior, config, device="cpu"):
        """From the JAX sampler's `SamplerConfig`; refuses settings the port does not have."""
        unsupported = {
            "method": config.method != "ddim", "eta": float(config.eta) != 0.0,
            "scale_schedule": config.scale_schedule != "constant", "precondition": bool(config.precondition),
            "guidance_repeats": int(config.guidance_repeats) != 1,
            "final_refinement_steps": int(config.final_refinement_steps) != 0,
        }
        names = [name for name, bad in unsupported.items() if bad]
        if names:
            raise ValueError(f"torch baseline: not ported for these sampler settings: {names}")
        return cls(prior, config.num_steps, config.guidance, config.guidance_scale, config.max_grad_norm,
                   device=device, matmul_dtype=config.matmul_dtype)

    def __init__(self, prior, num_steps: int = 50, guidance: str = "dps", guidance_scale: float = 0.1,
                 max_grad_norm: float = 5.0, x0_clip: float | None = None, device="cpu",
                 matmul_dtype: str = "float32"):
        schedule = prior.schedule
        if schedule.kind != "cosine" or prior.prediction_type != "epsilon":
            raise ValueError("torch baseline: only the cosine schedule with epsilon prediction is ported "
                             f"(got {schedule.kind!r}, {prior.prediction_type!r})")
        if guidance not in ("dps", "x0"):
            raise ValueError(f"torch baseline: guidance must be 'dps' or 'x0', got {guidance!r}")
        self.network = TorchScoreNetwork(prior.params, device=device, matmul_dtype=matmul_dtype)
        self.mean = _tensor(prior.normalization.mean, device)
        self.std = _tensor(prior.normalization.std, device)
        self.root_model = (0.0 - self.mean[ROOT_JOINT]) / self.std[ROOT_JOINT]  # model-space zero root
        self.schedule = schedule
        self.num_steps, self.guidance = int(num_steps), guidance
        self.guidance_scale, self.max_grad_norm = float(guidance_scale), float(max_grad_norm)
        self.x0_clip = prior.x0_clip if x0_clip is None else x0_clip
        self.device = device
        times = torch.linspace(1.0, 0.0, self.num_steps + 1, dtype=torch.float32)
        alpha_bar = cosine_alpha_bar(times, schedule.cosine_offset, schedule.min_alpha_bar)
        self.times = times.tolist()
        self.alpha_bar = alpha_bar.tolist()

    def _to_millimetres(self, x0):
        pose = x0 * self.std + self.mean
        return torch.cat([torch.zeros_like(pose[..., :1, :]), pose[..., 1:, :]], dim=-2)

    def _pin_root(self, x0):
        return torch.cat([self.root_model.expand_as(x0[..., :1, :]), x0[..., 1:, :]], dim=-2)

    def _denoise(self, x_t, t, alpha, sigma):
        epsilon = self.network(x_t, t)
        x0 = (x_t - sigma * epsilon) / max(alpha, 1e-6)
        if self.x0_clip:
            x0 = torch.clamp(x0, -self.x0_clip, self.x0_clip)
        return self._pin_root(x0)

    def _step(self, x_t, index, energy):
        t, s = self.times[index], self.times[index + 1]
        alpha_bar_t = torch.tensor(self.alpha_bar[index], dtype=torch.float32, device=self.device)
        alpha_bar_s = torch.tensor(1.0 if s <= 0.0 else self.alpha_bar[index + 1], dtype=torch.float32,
                                   device=self.device)
        alpha, sigma = float(torch.sqrt(alpha_bar_t)), float(torch.sqrt(1.0 - alpha_bar_t))
        if self.guidance == "dps":
            x_t = x_t.detach().requires_grad_(True)
            x0 = self._denoise(x_t, t, alpha, sigma)
            (gradient,) = torch.autograd.grad(energy(self._to_millimetres(x0)).sum(), x_t)
            x0 = x0.detach()
            x_t = x_t.detach()
        else:
            with torch.no_grad():
                x0 = self._denoise(x_t, t, alpha, sigma)
            x0_leaf = x0.requires_grad_(True)
            (gradient,) = torch.autograd.grad(energy(self._to_millimetres(x0_leaf)).sum(), x0_leaf)
            x0 = x0.detach()
        with torch.no_grad():
            gradient = gradient.clone()
            gradient[..., ROOT_JOINT, :] = 0.0
            gradient = torch.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)
            norm = torch.sqrt((gradient**2).sum(dim=(-2, -1), keepdim=True) + 1e-20)
            gradient = gradient * torch.clamp(self.max_grad_norm / norm, max=1.0)
            x0_guided = self._pin_root(x0 - self.guidance_scale * gradient)
            eps = (x_t - alpha * x0) / max(sigma, 1e-6)
            # eta = 0: the noise coefficient c is 0, so no noise term (and no draw).
            direction = torch.sqrt(torch.clamp(1 - alpha_bar_s, min=0.0))
            return torch.sqrt(alpha_bar_s) * x0_guided + direction * eps

    def sample(self, initial_noise, evidence, chunk: int | None = None):
        """`[frames, m, 17, 3]` mm poses from `initial_noise` `[frames, m, 17, 3]` (model space) and batched
        evidence."""
        energy = TorchHeatmapEnergy(evidence, device=self.device)
        x = _tensor(initial_noise, self.device)
        hypotheses = x.shape[1]
        chunk = hypotheses if not chunk else int(chunk)
        outputs = []
        for start in range(0, hypotheses, chunk):
            x_chunk = x[:, start:start + chunk]
            for index in range(self.num_steps):
                x_chunk = self._step(x_chunk, index, energy)
            outputs.append(self._to_millimetres(x_chunk))
        return torch.cat(outputs, dim=1)


def initial_noise(key, num_frames: int, num_hypotheses: int):
    """`[frames, m, 17, 3]` the JAX sampler's starting noise for `sample_batch(key, ...)` (`sampler.sample_one`'s
    derivation): frame f uses `fold_in(key, f)`, hypothesis i `fold_in(frame_key, i)`, split into (initial, steps,
    refine) keys, x_T = `normal(initial, (17, 3))`. Should that derivation change, the same-samples check fails."""
    import jax

    def one(frame_key, index):
        initial_key = jax.random.split(jax.random.fold_in(frame_key, index), 3)[0]
        return jax.random.normal(initial_key, (NUM_JOINTS, 3), jax.numpy.float32)

    frame_keys = jax.vmap(lambda f: jax.random.fold_in(key, f))(jax.numpy.arange(num_frames))
    per_frame = jax.vmap(lambda frame_key: jax.vmap(lambda i: one(frame_key, i))(jax.numpy.arange(num_hypotheses)))
    return np.asarray(per_frame(frame_keys))


def timed_sample(sampler: TorchGuidedSampler, noise, evidence, chunk=None) -> tuple[Any, float]:
    """(poses `[F, m, 17, 3]` numpy, seconds) of one eager run (CUDA work synchronised before the clock stops)."""
    cuda = str(sampler.device).startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    poses = sampler.sample(noise, evidence, chunk)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return poses.cpu().numpy(), seconds
