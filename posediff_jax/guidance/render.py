"""Gaussian heatmaps from 2D keypoints, for inputs that have keypoints but no detector heatmaps.

`render_gaussian_heatmaps` draws one peak-1 Gaussian per joint on a `[H, W]` grid (`H = W = heatmap_size`)
that covers the person's 2D bounding box with a margin; `bounding_box_affine` returns that grid's
`image_to_heatmap` `[2, 3]` affine (square box, so pixels stay square). Sigma is per joint, in heatmap pixels;
`sigma_from_confidence` widens it for low detector confidence: `sigma / sqrt(max(confidence, min_confidence))`.

Keypoints from a detector are not where the joints are: the heatmap of a detection is the rendered Gaussian
convolved with the detector's own error, a Gaussian of `detector_sigma` heatmap pixels, so it is rendered with
`evidence_sigma(sigma, detector_sigma) = sqrt(sigma^2 + detector_sigma^2)`. Since the heatmap energy is
`-log h`, a wider map is a likelihood tempered by `sigma^2 / (sigma^2 + detector_sigma^2)`: the guidance trusts
a detection as much as the detector deserves instead of fitting its errors. `DETECTOR_SIGMA` (2 heatmap pixels:
1/32 of the 1.25 x box side, ~14 image pixels for a Human3.6M subject) is the default for detected keypoints;
0 is for exact keypoints (ground-truth projections). A round figure of the right size, not a fit: the
Stacked-Hourglass (MPII) detections of S9 lie 15.7 px from the ground truth on average (head 36, ankles 21-23,
shoulders 9-11 px), a per-axis sigma of ~1.8 heatmap pixels. Measured with configs/eval_h36m.py: 60 S9 frames,
sigma 2 -> 2.83 (detector_sigma 2): best-of-1 113.4 -> 107.9 mm, best-of-200 64.6 -> 62.3, single estimate 93.7 ->
90.4, calibration coverage 0.19 / 0.65 -> 0.22 / 0.70; the 240-frame default: best-of-10 / 50 / 200 -1.9 / -2.3 /
-2.8 mm, best-of-1 +1.2, single estimate -0.4 (README "Results"). Ground-truth heatmaps widened the same way
lose 1.9 mm at best-of-200: the gain is the detector model, not a wider basin.
"""

from __future__ import annotations

import numpy as np

from posediff_jax.guidance.evidence import (  # noqa: F401 (the keypoint-box helpers live beside the evidence)
    MIN_KEYPOINT_EXTENT,
    EvidenceError,
    HeatmapEvidence,
    check_keypoint_extent,
    keypoint_box,
    make_heatmap_evidence,
    used_joints,
)
from posediff_jax.skeleton import NUM_JOINTS
from posediff_jax.validation import check_array

RENDER_SIGMA = 2.0  # heatmap pixels: the Gaussian drawn around an exact keypoint (64 x 64 map over 1.25 x the box)
DETECTOR_SIGMA = 2.0  # heatmap pixels: keypoint error of an off-the-shelf detector (module docstring)


def evidence_sigma(sigma: float = RENDER_SIGMA, detector_sigma: float = 0.0) -> float:
    """Heatmap sigma of a keypoint whose detector errs by `detector_sigma` (heatmap pixels; module docstring)."""
    sigma, detector_sigma = float(sigma), float(detector_sigma)
    if not (np.isfinite(sigma) and sigma > 0):
        raise EvidenceError(f"sigma: expected a finite value > 0 (heatmap pixels), got {sigma}")
    if not (np.isfinite(detector_sigma) and detector_sigma >= 0):
        raise EvidenceError(f"detector_sigma: expected a finite value >= 0 (heatmap pixels), got {detector_sigma}")
    return float(np.hypot(sigma, detector_sigma))


def bounding_box_affine(keypoints_2d, heatmap_size: int = 64, margin: float = 1.25, weights=None):
    """Square box around the keypoints (scaled by `margin`) -> `[..., 2, 3]` image->heatmap affine.

    Args:
      keypoints_2d: `[..., J, 2]` pixels.
      heatmap_size: heatmap side in cells; the box's edges map to -0.5 and heatmap_size - 0.5 (cell centres
        at integers), its centre to (heatmap_size - 1) / 2.
      margin: box side = margin * max(bbox width, bbox height).
      weights: optional `[..., J]`; joints with weight 0 do not enlarge the box.
    """
    keypoints_2d = np.asarray(keypoints_2d, np.float64)
    low, high = keypoint_box(keypoints_2d, weights)
    centre = (low + high) / 2.0
    side = np.maximum(np.max(high - low, axis=-1) * margin, 1.0)
    scale = heatmap_size / side
    affine = np.zeros(keypoints_2d.shape[:-2] + (2, 3))
    affine[..., 0, 0] = scale
    affine[..., 1, 1] = scale
    affine[..., :, 2] = (heatmap_size - 1) / 2.0 - scale[..., None] * centre
    return affine


def sigma_from_confidence(confidence, sigma: float = RENDER_SIGMA, min_confidence: float = 0.1):
    """Per-joint sigma `[..., J]` (heatmap pixels) that grows as confidence `[..., J]` in [0, 1] falls."""
    confidence = np.clip(np.asarray(confidence, np.float64), min_confidence, 1.0)
    return sigma / np.sqrt(confidence)


def render_gaussian_heatmaps(points_heatmap, height: int, width: int, sigma=RENDER_SIGMA):
    """Peak-1 Gaussians.

    Args:
      points_heatmap: `[..., J, 2]` joint positions in heatmap coordinates (x, y).
      height, width: grid size.
      sigma: scalar or `[..., J]` standard deviation in heatmap pixels.
    Returns:
      `[..., J, H, W]` float32 with `h[j, r, c] = exp(-((c - x_j)^2 + (r - y_j)^2) / (2 sigma_j^2))`.
    """
    points_heatmap = np.asarray(points_heatmap, np.float64)
    sigma = np.broadcast_to(np.asarray(sigma, np.float64), points_heatmap.shape[:-1])
    columns = np.arange(width, dtype=np.float64)
    rows = np.arange(height, dtype=np.float64)
    dx2 = (columns - points_heatmap[..., 0:1]) ** 2  # [..., J, W]
    dy2 = (rows - points_heatmap[..., 1:2]) ** 2  # [..., J, H]
    inverse = 1.0 / (2.0 * sigma[..., None] ** 2)
    # The product of the separable factors goes straight into the float32 result (numpy multiplies in float64 in
    # small buffers): a float64 [..., J, H, W] temporary and its cast doubled the memory of rendering many frames.
    heatmaps = np.empty(points_heatmap.shape[:-1] + (height, width), np.float32)
    np.multiply(np.exp(-dy2 * inverse)[..., :, None], np.exp(-dx2 * inverse)[..., None, :], out=heatmaps,
                casting="same_kind")
    return heatmaps


def heatmap_evidence_from_keypoints(
    keypoints_2d,
    intrinsics,
    sigma: float = RENDER_SIGMA,
    confidence=None,
    heatmap_size: int = 64,
    margin: float = 1.25,
    joint_weights=None,
    root_translation=None,
    detector_sigma: float = 0.0,
) -> HeatmapEvidence:
    """Renders Gaussian heatmaps around 2D keypoints and wraps them as `HeatmapEvidence`.

    Args:
      keypoints_2d: `[..., 17, 2]` pixels (any leading batch axes).
      intrinsics: `[..., 3, 3]`.
      sigma: Gaussian sigma in heatmap pixels (per joint via `confidence`).
      confidence: optional `[..., 17]` in [0, 1]: widens sigma (`sigma_from_confidence`) and becomes the
        joint weights unless `joint_weights` is given.
      heatmap_size: grid side H = W.
      margin: bounding-box margin factor.
      joint_weights: optional `[..., 17]` (0 = skip the joint).
      root_translation: optional `[..., 3]` mm (known root, e.g. ground truth).
      detector_sigma: the detector's keypoint error (heatmap pixels); the maps are rendered with
        `evidence_sigma(sigma, detector_sigma)` (module docstring). 0: exact keypoints.
    """
    sigma = evidence_sigma(sigma, detector_sigma)
    keypoints_2d = check_array("keypoints_2d", keypoints_2d, ("...", NUM_JOINTS, 2))
    keypoints_2d = np.asarray(keypoints_2d, np.float64)
    if confidence is not None:
        confidence = check_array("confidence", confidence, keypoints_2d.shape[:-1])
        if np.any(np.asarray(confidence) < 0):
            raise EvidenceError("confidence: values must be non-negative (0 = missing joint, 1 = certain)")
        sigmas = sigma_from_confidence(confidence, sigma)
        if joint_weights is None:
            joint_weights = np.clip(np.asarray(confidence, np.float64), 0.0, 1.0)
    else:
        sigmas = np.full(keypoints_2d.shape[:-1], float(sigma))
    check_keypoint_extent(keypoints_2d, joint_weights)
    affine = bounding_box_affine(keypoints_2d, heatmap_size, margin, joint_weights)
    points = np.einsum("...ij,...nj->...ni", affine[..., :2], keypoints_2d) + affine[..., None, :, 2]
    heatmaps = render_gaussian_heatmaps(points, heatmap_size, heatmap_size, sigmas)
    return make_heatmap_evidence(
        heatmaps,
        affine,
        intrinsics,
        joint_weights=joint_weights,
        keypoints_2d=keypoints_2d,
        root_translation=root_translation,
    )
