"""Gaussian heatmaps from 2D keypoints, for inputs without detector heatmaps.

One peak-1 Gaussian per joint on a square grid over the person's box with a margin (`bounding_box_affine`), sigma
in heatmap pixels per joint (widened for low confidence). A detection's map is that Gaussian convolved with the
detector's error, so it is drawn with `sqrt(sigma^2 + detector_sigma^2)`: under `-log h` a likelihood tempered
by `sigma^2 / (sigma^2 + detector_sigma^2)`, trusting a detection as much as the detector deserves.
`DETECTOR_SIGMA` is the default for detections (docs/decisions.md, "Detector sigma"); 0 is for exact keypoints.
"""

from __future__ import annotations

import numpy as np

from posediff_jax import geometry
from posediff_jax.guidance.checks import EvidenceError, check_keypoint_extent, keypoint_box
from posediff_jax.guidance.evidence import HeatmapEvidence, make_heatmap_evidence
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
    """`[..., 2, 3]` image -> heatmap affine of the square box (side `margin` x the larger extent) around
    `keypoints_2d [..., J, 2]` (joints with weight 0 left out): its edges map to -0.5 and heatmap_size - 0.5."""
    keypoints_2d = np.asarray(keypoints_2d, np.float64)
    low, high = keypoint_box(keypoints_2d, weights)
    centre = (low + high) / 2.0
    side = np.maximum(np.max(high - low, axis=-1) * margin, 1.0)
    scale = heatmap_size / side
    affine = np.zeros(keypoints_2d.shape[:-2] + (2, 3))
    affine[..., 0, 0] = affine[..., 1, 1] = scale
    affine[..., :, 2] = (heatmap_size - 1) / 2.0 - scale[..., None] * centre
    return affine


def sigma_from_confidence(confidence, sigma: float = RENDER_SIGMA, min_confidence: float = 0.1):
    """Per-joint sigma `[..., J]` (heatmap pixels) that grows as confidence `[..., J]` in [0, 1] falls."""
    confidence = np.clip(np.asarray(confidence, np.float64), min_confidence, 1.0)
    return sigma / np.sqrt(confidence)


def render_gaussian_heatmaps(points_heatmap, height: int, width: int, sigma=RENDER_SIGMA):
    """`[..., J, H, W]` float32 `exp(-((c - x_j)^2 + (r - y_j)^2) / (2 sigma_j^2))` of points `[..., J, 2]` (x, y)
    in heatmap coordinates; `sigma` scalar or `[..., J]`."""
    points_heatmap = np.asarray(points_heatmap, np.float64)
    sigma = np.broadcast_to(np.asarray(sigma, np.float64), points_heatmap.shape[:-1])
    columns = np.arange(width, dtype=np.float64)
    rows = np.arange(height, dtype=np.float64)
    dx2 = (columns - points_heatmap[..., 0:1]) ** 2  # [..., J, W]
    dy2 = (rows - points_heatmap[..., 1:2]) ** 2  # [..., J, H]
    inverse = 1.0 / (2.0 * sigma[..., None] ** 2)
    # The separable factors' product goes straight into the float32 result (no float64 temporary of every map).
    heatmaps = np.empty(points_heatmap.shape[:-1] + (height, width), np.float32)
    np.multiply(np.exp(-dy2 * inverse)[..., :, None], np.exp(-dx2 * inverse)[..., None, :], out=heatmaps,
                casting="same_kind")
    return heatmaps


def heatmap_evidence_from_keypoints(keypoints_2d, intrinsics, sigma: float = RENDER_SIGMA, confidence=None,
                                    heatmap_size: int = 64, margin: float = 1.25, joint_weights=None,
                                    root_translation=None, detector_sigma: float = 0.0) -> HeatmapEvidence:
    """`HeatmapEvidence` of Gaussians rendered around `keypoints_2d [..., 17, 2]` pixels (`intrinsics [..., 3, 3]`).

    `confidence [..., 17]` in [0, 1] widens sigma and is the joint weights unless `joint_weights` are given;
    `root_translation [..., 3]` mm is a known root; `detector_sigma`: the keypoints' error (module docstring).
    """
    sigma = evidence_sigma(sigma, detector_sigma)
    keypoints_2d = np.asarray(check_array("keypoints_2d", keypoints_2d, ("...", NUM_JOINTS, 2)), np.float64)
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
    points = geometry.apply_affine(affine, keypoints_2d)
    heatmaps = render_gaussian_heatmaps(points, heatmap_size, heatmap_size, sigmas)
    return make_heatmap_evidence(heatmaps, affine, intrinsics, joint_weights=joint_weights, keypoints_2d=keypoints_2d,
                                 root_translation=root_translation)
