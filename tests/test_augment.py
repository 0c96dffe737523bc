"""Property tests of the training augmentation: it randomises the person's heading about the world vertical as
each camera sees it, and keeps what the camera fixes (elevation, roll), bone lengths and the root."""

import numpy as np
import pytest

from posediff_jax import skeleton
from posediff_jax.data.augment import augment_poses, body_up_vectors, mirror_poses, rotation_about_axes
from posediff_jax.data.fixtures import write_h36m_fixture
from posediff_jax.data.pipeline import PoseBatchIterator, load_training_poses, read_pose_file, write_pose_file
from posediff_jax.data.synthetic import synthetic_poses
from posediff_jax.validation import PoseDiffError


def _tilted_camera_poses(count: int, seed: int = 0):
    """Upright synthetic poses seen by cameras that look down 8-14 degrees with up to 5 degrees of roll.

    Returns (camera-frame poses [n, 17, 3], up vectors [n, 3]): like Human3.6M, up's z component is about -0.2.
    """
    rng = np.random.default_rng(seed)
    upright = synthetic_poses(count, seed=seed)  # up = -y, heading uniform
    pitch = np.deg2rad(rng.uniform(8.0, 14.0, count))
    roll = np.deg2rad(rng.uniform(-5.0, 5.0, count))
    tilt = rotation_about_axes(np.tile([1.0, 0.0, 0.0], (count, 1)), pitch)
    tilt = rotation_about_axes(np.tile([0.0, 0.0, 1.0], (count, 1)), roll) @ tilt
    poses = np.einsum("nij,nkj->nki", tilt, upright).astype(np.float32)
    up = (tilt @ np.array([0.0, -1.0, 0.0])).astype(np.float32)
    return poses, up


POSES, UP = _tilted_camera_poses(2000)


def test_data_has_the_camera_elevation():  # the premise of the other tests
    assert -0.25 < UP[:, 2].mean() < -0.15
    assert body_up_vectors(POSES)[:, 2].mean() < -0.1


def test_bone_lengths_and_root_are_kept():
    augmented = augment_poses(POSES, np.random.default_rng(0), up=UP)
    lengths = skeleton.bone_lengths(POSES)
    mirrored_lengths = skeleton.bone_lengths(POSES[:, skeleton.FLIP_PERMUTATION])
    new_lengths = skeleton.bone_lengths(augmented)
    kept = np.isclose(new_lengths, lengths, atol=1e-2).all(1) | np.isclose(new_lengths, mirrored_lengths, atol=1e-2).all(1)
    assert kept.all()
    np.testing.assert_allclose(augmented[:, 0], 0.0, atol=1e-4)
    assert not np.allclose(augmented, POSES, atol=1.0)  # it did change the poses


@pytest.mark.parametrize("flip_probability", [0.0, 1.0])
def test_every_joint_keeps_its_height_along_up(flip_probability):
    """Rotation about `up` and mirroring across a plane containing `up` keep each joint's component along `up`:
    the camera's elevation and roll, as seen in the pose, are unchanged."""
    augmented = augment_poses(POSES, np.random.default_rng(1), flip_probability=flip_probability, up=UP)
    source = POSES[:, skeleton.FLIP_PERMUTATION] if flip_probability else POSES
    np.testing.assert_allclose(np.einsum("njk,nk->nj", augmented, UP), np.einsum("njk,nk->nj", source, UP),
                               atol=1e-2)
    # The camera-y augmentation does not: the body is stood upright in the image.
    old = augment_poses(POSES, np.random.default_rng(1), flip_probability=flip_probability, up=UP,
                        rotation_axis="camera_y")
    assert np.abs(np.einsum("njk,nk->nj", old, UP) - np.einsum("njk,nk->nj", source, UP)).max() > 50.0


def test_rotated_poses_up_vectors_match_the_data_distribution():
    """Body up vectors (pelvis -> thorax) of augmented poses have the data's distribution of the component along
    the camera's optical axis; the camera-y augmentation centres it on 0."""
    data = body_up_vectors(POSES)[:, 2]
    new = body_up_vectors(augment_poses(POSES, np.random.default_rng(2), up=UP))[:, 2]
    old = body_up_vectors(augment_poses(POSES, np.random.default_rng(2), up=UP, rotation_axis="camera_y"))[:, 2]
    quantiles = [0.1, 0.25, 0.5, 0.75, 0.9]
    np.testing.assert_allclose(np.quantile(new, quantiles), np.quantile(data, quantiles), atol=0.03)
    assert abs(new.mean() - data.mean()) < 0.02
    assert abs(old.mean()) < 0.03 and abs(old.mean() - data.mean()) > 0.1


def test_mirror_is_the_camera_x_mirror_for_an_upright_camera_and_keeps_up():
    poses = synthetic_poses(5, seed=3)
    np.testing.assert_allclose(mirror_poses(poses), skeleton.flip_pose(poses), atol=1e-4)
    flipped = augment_poses(poses, np.random.default_rng(1), flip_probability=1.0, max_rotation_degrees=0)
    np.testing.assert_allclose(flipped, skeleton.flip_pose(poses), atol=1e-4)
    # With a tilted camera, mirroring twice is the identity and the result is not the x mirror.
    twice = mirror_poses(mirror_poses(POSES[:50], UP[:50]), UP[:50])
    np.testing.assert_allclose(twice, POSES[:50], atol=1e-3)


def test_without_up_vectors_rotation_is_about_the_camera_y_axis():
    poses = synthetic_poses(200, seed=4)
    augmented = augment_poses(poses, np.random.default_rng(5), flip_probability=0.0)
    np.testing.assert_allclose(augmented[..., 1], poses[..., 1], atol=1e-3)  # heights along y kept


def test_bad_up_vectors_and_axis_are_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(PoseDiffError, match="expected shape"):
        augment_poses(POSES[:4], rng, up=UP[:3])
    with pytest.raises(PoseDiffError, match="non-zero"):
        augment_poses(POSES[:2], rng, up=np.zeros((2, 3)))
    with pytest.raises(PoseDiffError, match="rotation_axis"):
        augment_poses(POSES[:2], rng, up=UP[:2], rotation_axis="camera_x")
    with pytest.raises(PoseDiffError, match="optical axis"):
        mirror_poses(POSES[:1], np.array([[0.0, 0.0, 1.0]]))


def test_batch_iterator_rotates_each_pose_about_its_own_up():
    iterator = PoseBatchIterator(POSES, 64, seed=0, process_index=0, process_count=1, flip_probability=0.0,
                                 up_vectors=UP)
    for step in (0, 7):
        indices = iterator.indices_at(step)
        batch = iterator.batch_at(step)["pose"]
        np.testing.assert_allclose(np.einsum("njk,nk->nj", batch, UP[indices]),
                                   np.einsum("njk,nk->nj", POSES[indices], UP[indices]), atol=1e-2)
    with pytest.raises(PoseDiffError, match="expected shape"):
        PoseBatchIterator(POSES, 64, seed=0, process_index=0, process_count=1, up_vectors=UP[:10])


def test_up_vectors_are_each_cameras_view_of_world_up_and_the_pose_file_matches(tmp_path):
    from posediff_jax.data.cameras import CAMERA_IDS, camera_parameters

    manual = write_h36m_fixture(tmp_path / "manual")
    poses, up = load_training_poses(None, manual, "train", ("S1",), stride=10, with_up=True)
    assert poses.shape == (len(up), 17, 3) and up.shape[1] == 3
    expected = {tuple(np.round(camera_parameters("S1", c)["rotation"][:, 2], 5)) for c in CAMERA_IDS}
    assert {tuple(row) for row in np.round(up, 5)} == expected
    np.testing.assert_allclose(poses, load_training_poses(None, manual, "train", ("S1",), stride=10), atol=1e-3)
    # The compact pose file gives the same poses with the same up vectors (in another order).
    path = write_pose_file(tmp_path / "poses.npz", manual, ("S1",), ("S9",), stride=10, held_out_stride=16)
    data = read_pose_file(path)
    assert data.train.shape == poses.shape and len(data.held_out) > 0

    def keyed(p, u):
        rows = np.concatenate([p.reshape(len(p), -1), u], 1)
        return rows[np.lexsort(rows.T[::-1])]

    np.testing.assert_allclose(keyed(data.train, data.train_up), keyed(poses, up), atol=1e-2)
    with pytest.raises(PoseDiffError, match="not found"):
        read_pose_file(tmp_path / "missing.npz")


@pytest.mark.parametrize("settings, message", [
    ({"flip_probability": 2.0}, "flip_probability: expected a probability in"),
    ({"flip_probability": float("nan")}, "flip_probability"),
    ({"max_rotation_degrees": -10.0}, "max_rotation_degrees: expected a finite angle"),
])
def test_impossible_augmentation_settings_are_errors(settings, message):
    with pytest.raises(PoseDiffError, match=message):
        augment_poses(POSES[:2], np.random.default_rng(0), up=UP[:2], **settings)
