import numpy as np
import jax.numpy as jnp
import pytest

from posediff_jax import skeleton
from posediff_jax.validation import ShapeError


def test_tree_structure():
    assert len(skeleton.JOINT_NAMES) == skeleton.NUM_JOINTS == len(skeleton.PARENTS)
    assert skeleton.PARENTS[0] == -1
    assert all(parent < child for child, parent in skeleton.BONES)  # topological order
    assert len(skeleton.BONES) == 16
    assert sorted(skeleton.LEFT_JOINTS + skeleton.RIGHT_JOINTS) == [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]
    for left, right in zip(skeleton.LEFT_JOINTS, skeleton.RIGHT_JOINTS):
        assert skeleton.JOINT_NAMES[left][0] == "L" and skeleton.JOINT_NAMES[right][0] == "R"
        assert skeleton.JOINT_NAMES[left][1:] == skeleton.JOINT_NAMES[right][1:]


def test_flip_is_an_involution_that_keeps_bone_lengths():
    rng = np.random.default_rng(0)
    pose = rng.normal(size=(5, 17, 3)).astype(np.float32) * 200
    flipped = skeleton.flip_pose(pose)
    np.testing.assert_allclose(skeleton.flip_pose(flipped), pose)
    lengths, flipped_lengths = skeleton.bone_lengths(pose), skeleton.bone_lengths(flipped)
    for a, b in skeleton.SYMMETRIC_BONE_PAIRS:
        np.testing.assert_allclose(flipped_lengths[:, a], lengths[:, b], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(skeleton.flip_pose(jnp.asarray(pose))), flipped, rtol=1e-6)
    # The mirrored left wrist sits where the right wrist was, with x negated.
    np.testing.assert_allclose(flipped[:, 13], pose[:, 16] * np.array([-1, 1, 1]))


def test_h36m32_selection_and_shape_errors():
    positions = np.arange(32 * 3, dtype=np.float32).reshape(32, 3)
    selected = skeleton.from_h36m32(positions)
    assert selected.shape == (17, 3)
    np.testing.assert_array_equal(selected[7], positions[12])
    with pytest.raises(ShapeError, match=r"positions: expected shape \[\.\.\., 32, \*\]"):
        skeleton.from_h36m32(np.zeros((17, 3)))


def test_mpi_inf_3dhp_order_maps_names():
    names = np.array(skeleton.MPI_INF_3DHP17_NAMES)[skeleton.MPI_INF_3DHP17_TO_H36M17]
    assert names[0] == "pelvis" and names[10] == "head_top" and names[13] == "left_wrist"
    assert sorted(skeleton.MPI_INF_3DHP17_TO_H36M17) == list(range(17))  # a permutation


def test_smpl_and_lsp_conversions():
    joints = np.random.default_rng(1).normal(size=(2, 24, 3))
    converted, mask = skeleton.from_smpl24(joints)
    assert converted.shape == (2, 17, 3) and not mask[10] and mask.sum() == 16
    np.testing.assert_array_equal(converted[:, 10], 0)
    np.testing.assert_array_equal(converted[:, 16], joints[:, 21])  # right wrist
    lsp = skeleton.to_lsp14(converted)
    assert lsp.shape == (2, 14, 3)
    lsp_names = np.array(skeleton.JOINT_NAMES)[skeleton.H36M17_TO_LSP14]
    assert list(lsp_names[:3]) == ["RFoot", "RKnee", "RHip"] and lsp_names[-1] == "Head"
    smpl_lsp = np.array(skeleton.SMPL24_NAMES)[skeleton.SMPL24_TO_LSP14]
    assert smpl_lsp[0] == "right_ankle" and smpl_lsp[11] == "left_wrist"


def test_coco_and_mpii_to_h36m():
    coco = np.random.default_rng(2).uniform(0, 500, size=(17, 2)).astype(np.float32)
    kp, conf = skeleton.coco17_to_h36m17(coco)
    np.testing.assert_allclose(kp[0], (coco[11] + coco[12]) / 2)  # pelvis = mid-hips
    np.testing.assert_allclose(kp[8], (coco[5] + coco[6]) / 2)  # thorax = mid-shoulders
    np.testing.assert_array_equal(kp[13], coco[9])  # left wrist
    assert conf[7] == 0 and conf[10] == 0 and conf[1] == 1
    _, conf_no_mid = skeleton.coco17_to_h36m17(coco, midpoints=False)
    assert conf_no_mid[0] == 0 and conf_no_mid[8] == 0
    mpii = np.random.default_rng(3).uniform(0, 500, size=(4, 16, 2))
    kp, mask = skeleton.mpii16_to_h36m17(mpii)
    assert kp.shape == (4, 17, 2) and not mask[7] and mask.sum() == 16
    np.testing.assert_array_equal(kp[:, 3], mpii[:, 0])  # right ankle
    np.testing.assert_array_equal(kp[:, 10], mpii[:, 9])  # head top


def test_virtual_joint_matrices_are_affine_segments_of_the_detector_definitions():
    identity = skeleton.virtual_joint_matrices("none")
    assert identity.shape == (1, 17, 17)
    np.testing.assert_array_equal(identity[0], np.eye(17))
    matrices = skeleton.virtual_joint_matrices("mpii", num_points=5)
    assert matrices.shape == (5, 17, 17)
    np.testing.assert_allclose(matrices.sum(-1), 1.0, atol=1e-6)  # affine: moves with the pose
    pose = np.random.default_rng(0).normal(0, 300, (17, 3))
    virtual = np.einsum("kij,jd->kid", matrices, pose)
    head, neck, thorax = pose[10], pose[9], pose[8]
    np.testing.assert_allclose(virtual[0, 10], head, atol=1e-3)  # head top: from H36M Head ...
    np.testing.assert_allclose(virtual[-1, 10], 2 * head - neck, atol=1e-3)  # ... to one head segment beyond
    np.testing.assert_allclose(virtual[0, 8], (pose[11] + pose[14]) / 2, atol=1e-3)  # thorax: shoulder line
    np.testing.assert_allclose(virtual[-1, 9], neck, atol=1e-3)
    np.testing.assert_allclose(virtual[0, 9], thorax, atol=1e-3)  # upper neck: on the neck
    for joint in (0, 3, 7, 13, 16):  # every other joint is the H36M joint itself
        np.testing.assert_allclose(virtual[:, joint], np.broadcast_to(pose[joint], (5, 3)), atol=1e-3)
    shifted = np.einsum("kij,jd->kid", matrices, pose + 100.0)
    np.testing.assert_allclose(shifted, virtual + 100.0, atol=1e-3)
    midpoints = skeleton.virtual_joint_matrices("mpii", num_points=1)
    np.testing.assert_allclose(midpoints[0], matrices[2], atol=1e-6)
    with pytest.raises(ValueError, match="virtual joints"):
        skeleton.virtual_joint_matrices("coco")
