"""The prior's input pipeline: seeded, resumable, sharded across processes, valid augmentations."""

import numpy as np
import pytest

from posediff_jax import skeleton
from posediff_jax.data.augment import augment_poses
from posediff_jax.data.pipeline import PoseBatchIterator, cached_normalization_stats
from posediff_jax.data.synthetic import synthetic_poses
from posediff_jax.validation import PoseDiffError

POSES = synthetic_poses(1000, seed=0)


def test_same_seed_same_batches_and_resume_is_exact():
    first = PoseBatchIterator(POSES, 64, seed=7, process_index=0, process_count=1)
    second = PoseBatchIterator(POSES, 64, seed=7, process_index=0, process_count=1)
    uninterrupted = [first.batch_at(step)["pose"] for step in range(20)]  # a run from step 0
    resumed = [second.batch_at(step)["pose"] for step in range(12, 20)]  # a restart at step 12
    for a, b in zip(uninterrupted[12:], resumed):
        np.testing.assert_array_equal(a, b)
    other_seed = PoseBatchIterator(POSES, 64, seed=8, process_index=0, process_count=1)
    assert not np.allclose(other_seed.batch_at(0)["pose"], uninterrupted[0])


def test_processes_read_disjoint_shards_covering_the_global_batch():
    shards = [PoseBatchIterator(POSES, 64, seed=1, process_index=i, process_count=4) for i in range(4)]
    for step in (0, 5, 15, 16):  # 15 batches per epoch: step 15 starts a new permutation
        indices = [shard.indices_at(step) for shard in shards]
        assert all(len(i) == 16 for i in indices)
        joined = np.concatenate(indices)
        assert len(np.unique(joined)) == 64
    epoch = np.concatenate([shards[0].indices_at(s) for s in range(15)] + [shards[1].indices_at(s) for s in range(15)])
    assert len(np.unique(epoch)) == len(epoch)  # no example twice within an epoch
    with pytest.raises(PoseDiffError, match="does not split"):
        PoseBatchIterator(POSES, 63, seed=0, process_index=0, process_count=4)


def test_augmentations_keep_bone_lengths_root_and_mirror_left_right():
    rng = np.random.default_rng(0)
    augmented = augment_poses(POSES[:200], rng, flip_probability=0.5, max_rotation_degrees=180)
    lengths, new_lengths = skeleton.bone_lengths(POSES[:200]), skeleton.bone_lengths(augmented)
    np.testing.assert_allclose(np.sort(new_lengths, axis=1), np.sort(lengths, axis=1), atol=1e-2)
    np.testing.assert_allclose(augmented[:, 0], 0.0, atol=1e-4)
    flipped = augment_poses(POSES[:5], np.random.default_rng(1), flip_probability=1.0, max_rotation_degrees=0)
    np.testing.assert_allclose(flipped, skeleton.flip_pose(POSES[:5]), atol=1e-5)


def test_normalization_stats_are_computed_once_and_cached(tmp_path):
    stats = cached_normalization_stats(POSES, tmp_path)
    path = tmp_path / "normalization_stats.npz"
    assert path.is_file()
    stamp = path.stat().st_mtime_ns
    again = cached_normalization_stats(POSES, tmp_path)  # same poses: read back, not rewritten
    np.testing.assert_array_equal(np.asarray(again.std), np.asarray(stats.std))
    assert path.stat().st_mtime_ns == stamp
    fresh = cached_normalization_stats(POSES * 5.0, tmp_path)  # other poses, same count: recomputed
    spread = np.asarray(stats.std) > 2.0  # coordinates above the 1 mm floor scale with the data
    np.testing.assert_allclose(np.asarray(fresh.std)[spread], 5.0 * np.asarray(stats.std)[spread], rtol=1e-4)


def test_load_pose_data_reads_a_pose_file_and_names_missing_settings(tmp_path):
    import ml_collections

    from posediff_jax.data.fixtures import write_h36m_fixture
    from posediff_jax.data.pipeline import load_pose_data, write_pose_file

    manual = write_h36m_fixture(tmp_path / "manual")
    path = write_pose_file(tmp_path / "poses.npz", manual, ("S1",), ("S9",), stride=5, held_out_stride=16)
    config = ml_collections.ConfigDict({"source": "npz", "poses_file": str(path)})
    data = load_pose_data(config)
    assert data.train.shape == (2 * 26 * 4, 17, 3)  # 2 actions x 130/5 frames x 4 cameras
    assert data.held_out.shape == (2 * 9 * 4, 17, 3)  # 2 actions x ceil(130/16) frames x 4 cameras
    np.testing.assert_allclose(np.linalg.norm(data.train_up, axis=-1), 1.0, atol=1e-5)
    assert (data.train_up[:, 2] < -0.1).all()  # every Human3.6M camera looks down
    np.testing.assert_allclose(data.train[:, 0], 0.0, atol=1e-3)
    config.poses_file = ""
    with pytest.raises(PoseDiffError, match="poses_file is not set"):
        load_pose_data(config)
    (tmp_path / "other.npz").write_bytes(b"not a zip")
    config.poses_file = str(tmp_path / "other.npz")
    with pytest.raises(PoseDiffError, match="unreadable pose file"):
        load_pose_data(config)


def test_damaged_pose_files_are_clear_errors(tmp_path):
    """Pose files for data.source='npz' with a missing key, labels out of range, an empty split or a short label
    array are one-line errors naming the file, not KeyError / IndexError tracebacks."""
    from posediff_jax.data.fixtures import write_h36m_fixture
    from posediff_jax.data.pipeline import read_pose_file, write_pose_file

    manual = write_h36m_fixture(tmp_path / "manual", detector="")
    path = write_pose_file(tmp_path / "poses.npz", manual, ("S1",), ("S9",), stride=10, held_out_stride=16)
    with np.load(path) as data:
        fields = {key: data[key] for key in data.files}
    cases = {
        "missing key": ({k: v for k, v in fields.items() if k != "train_subject"}, r"lacks \['train_subject'\]"),
        "label out of range": ({**fields, "train_subject": np.full_like(fields["train_subject"], 5)},
                               r"train_subject holds \d+ label\(s\) outside 0\.\.1"),
        "empty split": ({**fields, "held_out_world": fields["held_out_world"][:0],
                         "held_out_subject": fields["held_out_subject"][:0]}, "held-out split is empty"),
        "short labels": ({**fields, "train_subject": fields["train_subject"][:-3]},
                         r"train_subject must hold one subject index per pose"),
    }
    for name, (content, message) in cases.items():
        broken = tmp_path / f"{name.replace(' ', '_')}.npz"
        np.savez(broken, **content)
        with pytest.raises(PoseDiffError, match=message):
            read_pose_file(broken)
    with pytest.raises(PoseDiffError, match="write_pose_file: stride: must be a whole number >= 1"):
        write_pose_file(tmp_path / "zero.npz", manual, ("S1",), ("S9",), stride=0)
