"""Where an evaluation's 2D evidence comes from: heatmaps for a batch of frames.

- 'gt_heatmaps': rendered around the ground-truth 2D (`keypoints_2d_gt`): a perfect detector.
- 'detections': rendered around a detector's keypoints, widened by its error `detector_sigma`; joints outside
  its layout (`detection_mask` False) get weight 0, a `detection_confidence` widens each joint's Gaussian.
- 'noisy_gt': the ground-truth 2D plus `keypoint_noise_px` Gaussian noise, guided as a detector's keypoints;
  each frame's noise depends on the seed and the frame's identity only.
- 'heatmap_arrays': a user's `.npz` of `heatmaps [N, 17, H, W]`, `image_to_heatmap [N, 2, 3]`, optional
  `joint_weights`, matched to the frames by `subject`, `action`, `camera`, `frame`.
Virtual joints (the detector's joint definitions) apply to 'detections' only.
"""

import pathlib
import zlib
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from posediff_jax.guidance import heatmap_evidence_from_keypoints, make_heatmap_evidence
from posediff_jax.guidance.render import RENDER_SIGMA
from posediff_jax.validation import PoseDiffError

EVIDENCE_SOURCES = ("gt_heatmaps", "detections", "noisy_gt", "heatmap_arrays")
EXACT_SOURCES = ("gt_heatmaps",)  # 2D without detector error (picks the 'auto' guidance schedule's exact branch)
HEATMAP_ARRAY_FIELDS = ("heatmaps", "image_to_heatmap", "subject", "action", "camera", "frame")


def frame_keys(frames: Mapping[str, np.ndarray], indices=None) -> list[str]:
    """'subject|action|camera|frame' identity strings of the frames (all, or `indices`)."""
    indices = np.arange(len(frames["frame"])) if indices is None else np.asarray(indices)
    return [f"{frames['subject'][i]}|{frames['action'][i]}|{frames['camera'][i]}|{int(frames['frame'][i])}"
            for i in indices]


def _checked_noise_px(value) -> float:
    noise_px = float(value)
    if not np.isfinite(noise_px) or noise_px < 0:
        raise PoseDiffError(f"evidence.keypoint_noise_px: expected a finite value >= 0 (image pixels), got {noise_px}")
    return noise_px


def noisy_ground_truth_keypoints(frames: Mapping[str, np.ndarray], indices, noise_px: float, seed: int = 0):
    """`keypoints_2d_gt` of `indices` plus N(0, noise_px^2) px, seeded by `seed` and each frame's identity."""
    noise_px = _checked_noise_px(noise_px)
    indices = np.asarray(indices)
    keypoints = np.array(frames["keypoints_2d_gt"][indices], np.float32)
    identified = all(field in frames for field in ("subject", "action", "camera", "frame"))
    names = frame_keys(frames, indices) if identified else [str(int(index)) for index in indices]
    for row, name in enumerate(names):
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])
        keypoints[row] += noise_px * rng.standard_normal(keypoints.shape[1:]).astype(np.float32)
    return keypoints


class HeatmapArrays:
    """Heatmaps from a user's `.npz`, looked up by frame identity (see the module docstring)."""

    def __init__(self, path):
        path = pathlib.Path(path)
        if not path.is_file():
            raise PoseDiffError(f"heatmap arrays file not found: {path}")
        with np.load(path, allow_pickle=False) as data:
            missing = [field for field in HEATMAP_ARRAY_FIELDS if field not in data.files]
            if missing:
                raise PoseDiffError(f"heatmap arrays file {path}: missing arrays {missing} (has {data.files})")
            self.heatmaps = data["heatmaps"]
            self.image_to_heatmap = data["image_to_heatmap"]
            self.joint_weights = data["joint_weights"] if "joint_weights" in data.files else None
            keys = frame_keys({name: data[name] for name in ("subject", "action", "camera", "frame")})
        self.index = {key: row for row, key in enumerate(keys)}
        self.path = path

    def rows(self, keys) -> np.ndarray:
        missing = [key for key in keys if key not in self.index]
        if missing:
            raise PoseDiffError(f"heatmap arrays file {self.path} has no heatmaps for {len(missing)} evaluated "
                                f"frame(s), e.g. {missing[0]!r} (subject|action|camera|frame)")
        return np.array([self.index[key] for key in keys])


def batch_evidence(source: str, frames: Mapping[str, np.ndarray], indices, sigma: float = RENDER_SIGMA,
                   heatmap_size: int = 64, use_gt_root: bool = False, heatmap_arrays: HeatmapArrays | None = None,
                   detector_sigma: float = 0.0, keypoint_noise_px: float = 0.0, seed: int = 0,
                   undistort: bool = False):
    """`HeatmapEvidence` of `frames[indices]` from `source`; `sigma`, `detector_sigma` in heatmap pixels;
    `undistort`: keypoints moved to where a pinhole camera sees them (`frames['distortion']`). Rig frames
    (data/multiview_frames.py) give `MultiViewEvidence`, each view's evidence built as a single camera's."""
    indices = np.asarray(indices)
    if "world_rotation" in frames:
        if source == "heatmap_arrays":
            raise PoseDiffError("evidence 'heatmap_arrays' takes one camera's frames; set data.views=0")
        from posediff_jax.data.multiview_frames import VIEW_FIELDS
        from posediff_jax.guidance.multiview import make_multiview_evidence
        views = [batch_evidence(source, {name: value[:, view] if name in VIEW_FIELDS else value
                                         for name, value in frames.items() if name != "world_rotation"},
                                indices, sigma, heatmap_size, False, None, detector_sigma, keypoint_noise_px, seed,
                                undistort)
                 for view in range(frames["world_rotation"].shape[1])]
        stacked = jax.tree.map(lambda *leaves: np.stack([np.asarray(leaf) for leaf in leaves], axis=1), *views)
        return make_multiview_evidence(jax.tree.map(jnp.asarray, stacked), frames["world_rotation"][indices],
                                       frames["world_translation"][indices],
                                       view_weights=frames["view_present"][indices].astype(np.float32),
                                       root_translation=frames["root_position"][indices] if use_gt_root else None)
    root = frames["root_position"][indices] if use_gt_root else None
    intrinsics = frames["intrinsics"][indices]
    if source == "heatmap_arrays":
        if heatmap_arrays is None:
            raise PoseDiffError("evidence 'heatmap_arrays': set config.evidence.heatmap_arrays_file")
        rows = heatmap_arrays.rows(frame_keys(frames, indices))
        weights = None if heatmap_arrays.joint_weights is None else heatmap_arrays.joint_weights[rows]
        return make_heatmap_evidence(heatmap_arrays.heatmaps[rows], heatmap_arrays.image_to_heatmap[rows], intrinsics,
                                     joint_weights=weights, root_translation=root)
    confidence = None
    if source == "detections":
        if "keypoints_2d_detected" not in frames:
            raise PoseDiffError("evidence 'detections': this dataset's frames carry no detector keypoints")
        keypoints, weights = frames["keypoints_2d_detected"][indices], frames["detection_mask"][indices]
        confidence = frames["detection_confidence"][indices] if "detection_confidence" in frames else None
    elif source in ("gt_heatmaps", "noisy_gt"):  # the ground-truth 2D, exact or as a detector's (noise, its sigma)
        weights = frames["joint_mask"][indices] if "joint_mask" in frames else None
        keypoints = (frames["keypoints_2d_gt"][indices] if source == "gt_heatmaps"
                     else noisy_ground_truth_keypoints(frames, indices, keypoint_noise_px, seed))
        detector_sigma = 0.0 if source == "gt_heatmaps" else detector_sigma
    else:
        raise PoseDiffError(f"evidence source: expected one of {EVIDENCE_SOURCES}, got {source!r}")
    if undistort:
        if "distortion" not in frames:
            raise PoseDiffError("evidence.undistort: this dataset's frames carry no lens distortion")
        from posediff_jax.geometry import undistort_pixels
        keypoints = undistort_pixels(keypoints, intrinsics, frames["distortion"][indices]).astype(np.float32)
    return heatmap_evidence_from_keypoints(
        keypoints, intrinsics, sigma=sigma, heatmap_size=heatmap_size, confidence=confidence, root_translation=root,
        joint_weights=None if weights is None else weights.astype(np.float32), detector_sigma=detector_sigma)


def check_evidence_config(evidence_config) -> dict:
    """Raises `PoseDiffError` naming a bad key of `config.evidence`; returns `heatmap_energy_options`."""
    source = evidence_config.get("source", "gt_heatmaps")
    if source not in EVIDENCE_SOURCES:
        raise PoseDiffError(f"evidence.source: expected one of {EVIDENCE_SOURCES}, got {source!r}")
    _checked_noise_px(evidence_config.get("keypoint_noise_px", 0.0))
    return heatmap_energy_options(evidence_config)


def heatmap_energy_options(evidence_config) -> dict:
    """Keyword options of `guidance.make_heatmap_energy` from `config.evidence`."""
    source = evidence_config.get("source", "gt_heatmaps")
    virtual_joints = str(evidence_config.get("virtual_joints", "none") or "none")
    from posediff_jax.skeleton import VIRTUAL_JOINT_LAYOUTS
    if virtual_joints not in VIRTUAL_JOINT_LAYOUTS:
        raise PoseDiffError(f"evidence.virtual_joints: expected one of {sorted(VIRTUAL_JOINT_LAYOUTS)}, "
                            f"got {virtual_joints!r}")
    outlier_probability = float(evidence_config.get("outlier_probability", 0.0))
    if not 0.0 <= outlier_probability < 1.0:
        raise PoseDiffError(f"evidence.outlier_probability: expected a value in [0, 1), got {outlier_probability}")
    root_reweighting = int(evidence_config.get("root_reweighting", 0))
    if root_reweighting < 0:
        raise PoseDiffError(f"evidence.root_reweighting: expected >= 0 iterations, got {root_reweighting}")
    return {
        "outlier_probability": outlier_probability or None,
        "virtual_joints": virtual_joints if source == "detections" else "none",
        "root_reweighting": root_reweighting,
    }


def triangulation_errors(frames: Mapping[str, np.ndarray], indices) -> np.ndarray:
    """`[batch]` MPJPE (mm, root-relative, reference camera) of the rig frames' detections triangulated by DLT
    (`geometry.triangulate_points`): the baseline that ignores the skeleton. Joints fewer than two views detect,
    and frames whose pelvis is one of them, are left out (NaN)."""
    from posediff_jax import geometry
    indices = np.asarray(indices)
    rotations, translations = frames["world_rotation"][indices], frames["world_translation"][indices]
    weights = frames["detection_mask"][indices] * frames["view_present"][indices][..., None]
    world = np.asarray(geometry.triangulate_points(frames["keypoints_2d_detected"][indices],
                                                   frames["intrinsics"][indices], rotations, translations,
                                                   weights.astype(np.float32)))
    reference = np.einsum("nij,nkj->nki", rotations[:, 0], world) + translations[:, 0, None]
    errors = np.linalg.norm(reference - reference[:, :1] - frames["pose_3d"][indices], axis=-1)
    with np.errstate(all="ignore"):
        return np.nanmean(np.where(np.isfinite(errors), errors, np.nan), axis=-1)
