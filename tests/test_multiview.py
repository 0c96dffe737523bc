"""guidance/multiview.py: the root solved across views, views without evidence, rig checks, DLT triangulation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posediff_jax import geometry
from posediff_jax.guidance import heatmap_energy, heatmap_evidence_from_keypoints, stack_evidence
from posediff_jax.guidance.checks import EvidenceError
from posediff_jax.guidance.multiview import (make_multiview_evidence, multiview_evidence_from_arrays,
                                             multiview_heatmap_energy, solve_multiview_root)
from posediff_jax.prior.gaussian import STANDING_POSE_MM

K = np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]], np.float32)
ROOT_WORLD = np.array([300.0, -200.0, 900.0])


def rotation_about_y(degrees):
    angle = np.deg2rad(degrees)
    return np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])


def rig(angles=(0.0, 90.0, 200.0)):
    """World -> camera extrinsics of cameras 5 m from the origin on a circle, looking at it."""
    rotations = np.stack([rotation_about_y(angle) for angle in angles])
    translations = np.tile([0.0, 0.0, 5000.0], (len(angles), 1))
    return rotations, translations


def views_of(pose_world, rotations, translations):
    """Pixels `[V, 17, 2]` of world points `[17, 3]` in each camera."""
    cameras = np.einsum("vij,kj->vki", rotations, pose_world) + translations[:, None]
    return np.asarray(geometry.project_to_pixels(jnp.asarray(cameras, jnp.float32), K))


def reference_pose(rotations, pose_world):
    """The root-relative pose in camera 0's frame and its root there."""
    camera = pose_world @ rotations[0].T
    return camera - camera[0], camera[0]


def rig_evidence(pixels, rotations, translations, **options):
    views = stack_evidence([heatmap_evidence_from_keypoints(view, K) for view in pixels])
    return make_multiview_evidence(views, rotations, translations, **options)


def world_pose():
    return np.asarray(STANDING_POSE_MM, np.float64) + ROOT_WORLD


def test_the_root_is_solved_across_views_and_the_truth_has_the_lowest_energy():
    rotations, translations = rig()
    pixels = views_of(world_pose(), rotations, translations)
    evidence = rig_evidence(pixels, rotations, translations)
    pose, root = reference_pose(rotations, world_pose())
    root = root + translations[0]
    np.testing.assert_allclose(solve_multiview_root(jnp.asarray(pose, jnp.float32), evidence), root, atol=1.0)
    energy = jax.jit(multiview_heatmap_energy)
    at_truth = float(energy(jnp.asarray(pose, jnp.float32), evidence))
    rng = np.random.default_rng(0)
    for _ in range(3):
        moved = pose + rng.normal(scale=40.0, size=pose.shape) * (np.arange(17) > 0)[:, None]
        assert float(energy(jnp.asarray(moved, jnp.float32), evidence)) > at_truth
    assert np.all(np.isfinite(np.asarray(jax.grad(multiview_heatmap_energy)(jnp.asarray(pose, jnp.float32), evidence))))


def test_two_views_fix_the_depth_that_one_leaves_free():
    rotations, translations = rig((0.0, 90.0))
    pose, root = reference_pose(rotations, world_pose())
    root = root + translations[0]
    pixels = views_of(world_pose(), rotations, translations)
    both = rig_evidence(pixels, rotations, translations)
    scaled = jnp.asarray(1.3 * pose, jnp.float32)  # a larger body farther away explains one view exactly
    one_view = heatmap_evidence_from_keypoints(pixels[0], K)
    assert float(geometry.root_translation_for(scaled, one_view)[2]) > root[2] + 1000.0
    assert abs(float(solve_multiview_root(scaled, both)[2]) - root[2]) < 500.0


def test_a_view_without_evidence_adds_nothing_and_may_be_the_reference():
    rotations, translations = rig()
    pose, root = reference_pose(rotations, world_pose())
    root = root + translations[0]
    pixels = views_of(world_pose(), rotations, translations)
    garbled = pixels.copy()
    garbled[0] += np.random.default_rng(1).normal(scale=80.0, size=garbled[0].shape)
    clean = rig_evidence(pixels, rotations, translations, view_weights=[0.0, 1.0, 1.0])
    weightless = rig_evidence(garbled, rotations, translations, view_weights=[0.0, 1.0, 1.0])
    full = rig_evidence(garbled, rotations, translations)
    pose = jnp.asarray(pose, jnp.float32)
    moved = pose + 20.0 * jnp.asarray(np.arange(17) > 0, jnp.float32)[:, None]
    for candidate in (pose, moved):
        assert float(multiview_heatmap_energy(candidate, weightless)) == pytest.approx(
            float(multiview_heatmap_energy(candidate, clean)), rel=1e-5)
    np.testing.assert_allclose(solve_multiview_root(pose, weightless), root, atol=1.0)
    assert float(multiview_heatmap_energy(pose, full)) > float(multiview_heatmap_energy(pose, weightless)) + 10.0


def test_one_view_is_the_single_view_energy():
    rotations, translations = rig((30.0,))
    pixels = views_of(world_pose(), rotations, translations)
    pose, _ = reference_pose(rotations, world_pose())
    pose = jnp.asarray(pose * 1.05, jnp.float32)
    single = heatmap_evidence_from_keypoints(pixels[0], K)
    multi = rig_evidence(pixels, rotations, translations)
    assert float(multiview_heatmap_energy(pose, multi)) == pytest.approx(float(heatmap_energy(pose, single)), rel=1e-4)


def test_rig_arrays_with_a_lost_view_and_frames():
    rotations, translations = rig()
    pixels = views_of(world_pose(), rotations, translations)
    lost = pixels.copy()
    lost[2] = np.nan  # the third camera lost the person
    evidence = multiview_evidence_from_arrays({"keypoints_2d": np.stack([pixels, lost]), "intrinsics": K,
                                               "rotation": rotations, "translation": translations})
    assert evidence.views.heatmaps.shape[:2] == (2, 3)
    assert float(np.asarray(evidence.views.joint_weights)[1, 2].sum()) == 0.0
    assert float(np.asarray(evidence.views.joint_weights)[0, 2].sum()) == 17.0


@pytest.mark.parametrize("change, message", [
    (lambda r, t: (r * np.array([1.0, 1.0, -1.0])[:, None], t), "not a rotation"),
    (lambda r, t: (r, t / 1000.0), "millimetres"),
])
def test_inconsistent_rigs_are_refused(change, message):
    rotations, translations = rig()
    pixels = views_of(world_pose(), rotations, translations)
    bad_rotations, bad_translations = change(rotations, translations)
    with pytest.raises(EvidenceError, match=message):
        multiview_evidence_from_arrays({"keypoints_2d": pixels, "intrinsics": K, "rotation": bad_rotations,
                                        "translation": bad_translations})


def test_views_disagreeing_on_the_frame_count_are_refused():
    rotations, translations = rig()
    pixels = views_of(world_pose(), rotations, translations)
    with pytest.raises(EvidenceError, match="frames"):
        multiview_evidence_from_arrays({"keypoints_2d": np.stack([pixels, pixels]), "intrinsics": K,
                                        "rotation": np.stack([rotations] * 3), "translation": translations})


def test_triangulation_recovers_points_and_needs_two_views():
    rotations, translations = rig()
    points = world_pose()
    pixels = views_of(points, rotations, translations)
    weights = np.ones((3, 17), np.float32)
    weights[1:, 5] = 0.0  # joint 5 seen by one camera only
    found = np.asarray(geometry.triangulate_points(jnp.asarray(pixels), jnp.asarray(np.stack([K] * 3)),
                                                   jnp.asarray(rotations, jnp.float32),
                                                   jnp.asarray(translations, jnp.float32), jnp.asarray(weights)))
    np.testing.assert_allclose(np.delete(found, 5, axis=0), np.delete(points, 5, axis=0), atol=1.0)
    assert np.all(np.isnan(found[5]))
