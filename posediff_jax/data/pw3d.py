"""3DPW (3D Poses in the Wild) test split as a tensorflow-datasets builder without TensorFlow (ArrayRecord).

`manual_dir/sequenceFiles/test/<sequence>.pkl` from 3DPW's `sequenceFiles.zip`: Python-2 pickles with, per
person, `jointPositions` `[frames, 72]` (SMPL-24, world, m), `campose_valid`, `poses2d` `[frames, 3, 18]`
(OpenPose-18), and `cam_poses`, `cam_intrinsics`, `img_frame_ids`. Only these files are unpickled, with
`safe_pickle.load_restricted` (numpy arrays and builtin containers only). One example per valid frame and
person: H36M-17 via `skeleton.from_smpl24` with `joint_mask` (no head top), `pose_lsp14`, detections from
`poses2d`, `person`, `sequence`, `image_file`. Configs: 'stride1', 'small' (every 25th). Split: 'test'.
"""

import pathlib
import warnings

import numpy as np
import tensorflow_datasets as tfds

from posediff_jax import geometry, skeleton
from posediff_jax.data.safe_pickle import load_restricted
from posediff_jax.data.tfds_support import frame_dataset_info, prepare_builder, stride_configs
from posediff_jax.data.videopose3d import DatasetFileError, DatasetWarning

SEQUENCE_FOLDER = pathlib.Path("sequenceFiles") / "test"
# COCO-17 joint -> OpenPose-18 joint (OpenPose: nose, neck, RSho, RElb, RWri, LSho, LElb, LWri, RHip, RKnee,
# RAnk, LHip, LKnee, LAnk, REye, LEye, REar, LEar).
OPENPOSE18_TO_COCO17 = np.array([0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10], dtype=np.int32)
REQUIRED_KEYS = ("jointPositions", "cam_poses", "cam_intrinsics", "campose_valid", "img_frame_ids")


def sequence_files(manual_dir) -> list:
    """The test sequence pickles in `manual_dir/sequenceFiles/test`; `DatasetFileError` (with a hint) if none."""
    manual = pathlib.Path(manual_dir).expanduser()
    folder = manual / SEQUENCE_FOLDER
    files = sorted(folder.glob("*.pkl")) if folder.is_dir() else []
    if not files:
        hint = ""
        if manual.is_dir() and list(manual.glob("*.pkl")):
            hint = (f" Found *.pkl directly in {manual}: set the manual_dir to the folder that holds "
                    "sequenceFiles/, so that the split is known.")
        elif [split for split in ("train", "validation") if list((manual / "sequenceFiles" / split).glob("*.pkl"))]:
            hint = " Found only the train / validation split: the evaluation reads the test split."
        raise DatasetFileError(f"{folder}: no 3DPW sequence files (*.pkl). Expected the test split of 3DPW's "
                               "sequenceFiles.zip unzipped into the manual_dir (sequenceFiles/test/*.pkl)." + hint)
    return files


def _people(path, data, key) -> list:
    """`data[key]` as a list with one entry per person (a list, a tuple or an array stacked over people)."""
    value = data[key]
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        value = list(value)
    if not isinstance(value, (list, tuple)):
        raise DatasetFileError(f"{path}: {key} is a {type(value).__name__}, expected a list with one entry per person")
    return list(value)


def read_sequence(path) -> dict:
    """One validated sequence pickle: per-person `joints` `[frames, 24, 3]` m, `valid`, `poses2d` (or None), and
    `cam_poses`, `intrinsics`, `frame_ids`, `sequence`, `skipped`.

    `None` people, valid frames with non-finite joints or camera and missing `poses2d` are skipped with ONE
    `DatasetWarning`; a wrong layout is a `DatasetFileError` naming the file.
    """
    data = load_restricted(path)
    if not isinstance(data, dict):
        raise DatasetFileError(f"{path}: expected a dict (3DPW sequence file), got {type(data).__name__}")
    missing = [key for key in REQUIRED_KEYS if key not in data or data[key] is None]
    if missing:
        raise DatasetFileError(f"{path}: missing keys {missing}; a 3DPW sequence file has {list(REQUIRED_KEYS)}")

    def array(name, value, shape, dtype=np.float64):
        value = np.asarray(value)
        if value.ndim != len(shape) or any(want is not None and got != want for got, want in zip(value.shape, shape)):
            raise DatasetFileError(f"{path}: {name} has shape {list(value.shape)}, expected "
                                   f"[{', '.join('frames' if s is None else str(s) for s in shape)}]")
        try:
            return value.astype(dtype)
        except (TypeError, ValueError) as error:
            raise DatasetFileError(f"{path}: {name} is not numeric ({error})") from None

    cam_poses = array("cam_poses", data["cam_poses"], (None, 4, 4))
    frames = len(cam_poses)
    intrinsics = array("cam_intrinsics", data["cam_intrinsics"], (3, 3)).astype(np.float32)
    if not np.isfinite(intrinsics).all():
        raise DatasetFileError(f"{path}: cam_intrinsics has NaN or infinite values")
    frame_ids = array("img_frame_ids", data["img_frame_ids"], (frames,)).astype(np.int64)
    people, people_valid = _people(path, data, "jointPositions"), _people(path, data, "campose_valid")
    if len(people) != len(people_valid):
        raise DatasetFileError(f"{path}: jointPositions and campose_valid must be lists with one entry per person")
    camera_finite = np.isfinite(cam_poses).all(axis=(1, 2))
    joints, valid, skipped = [], [], []
    for p, (person, person_valid) in enumerate(zip(people, people_valid)):
        if person is None or person_valid is None:  # keep the person numbering: nothing of theirs is valid
            skipped.append(f"person {p} (None in the file)")
            joints.append(np.zeros((frames, 24, 3)))
            valid.append(np.zeros(frames, bool))
            continue
        person_joints = array(f"jointPositions[{p}]", person, (frames, 72)).reshape(frames, 24, 3)
        person_valid = np.nan_to_num(array(f"campose_valid[{p}]", person_valid, (frames,))) > 0
        bad = person_valid & ~(np.isfinite(person_joints).all(axis=(1, 2)) & camera_finite)
        if bad.any():
            skipped.append(f"person {p}: {int(bad.sum())} of {int(person_valid.sum())} valid frames with NaN or "
                           f"infinite joints or camera pose (first: frame {int(np.argmax(bad))})")
        joints.append(person_joints)
        valid.append(person_valid & ~bad)
    poses2d = None
    detections = None if data.get("poses2d") is None else _people(path, data, "poses2d")
    if detections is not None and len(detections) == len(people):
        poses2d = []
        for p, person in enumerate(detections):
            if person is None:
                skipped.append(f"poses2d of person {p} (None in the file: no detections)")
                poses2d.append(np.zeros((frames, 3, 18), np.float32))
                continue
            person = array(f"poses2d[{p}]", person, (frames, 3, 18)).astype(np.float32)
            finite = np.isfinite(person).all(axis=1)  # [frames, 18]: a joint with any NaN is undetected
            poses2d.append(np.where(finite[:, None], person, 0.0).astype(np.float32))
    elif detections is not None:
        skipped.append(f"poses2d ({len(detections)} entries for {len(people)} people: no detections)")
    sequence = data.get("sequence")
    sequence = sequence.decode("latin1") if isinstance(sequence, bytes) else sequence
    if skipped:
        warnings.warn(f"{path}: skipping {'; '.join(skipped)}", DatasetWarning, stacklevel=2)
    return {"joints": joints, "valid": valid, "poses2d": poses2d, "cam_poses": cam_poses, "intrinsics": intrinsics,
            "frame_ids": frame_ids, "sequence": sequence if isinstance(sequence, str) and sequence
            else pathlib.Path(path).stem, "skipped": skipped}


def openpose18_to_h36m17(poses2d: np.ndarray) -> tuple:
    """`[frames, 3, 18]` (x, y, confidence) -> (`[frames, 17, 2]` pixels, `[frames, 17]` bool mask)."""
    keypoints = np.swapaxes(poses2d[:, :2], 1, 2)[:, OPENPOSE18_TO_COCO17]
    confidence = poses2d[:, 2][:, OPENPOSE18_TO_COCO17]
    mapped, mapped_confidence = skeleton.coco17_to_h36m17(keypoints, confidence)
    return mapped, mapped_confidence > 0


class PW3D(tfds.core.GeneratorBasedBuilder):
    """3DPW test sequences in the camera frame."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = stride_configs(25)
    DEFAULT_CONFIG_NAME = "stride1"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download sequenceFiles.zip from https://virtualhumans.mpi-inf.mpg.de/3DPW/ (registration; non-commercial
    research licence) and unzip it into the manual_dir so that manual_dir/sequenceFiles/test/*.pkl exist.
    These pickles are loaded with a restricted unpickler (numpy arrays and builtin containers only).
    """

    def _info(self) -> tfds.core.DatasetInfo:
        tensor, text = tfds.features.Tensor, tfds.features.Text()
        return frame_dataset_info(
            self, __doc__, "https://virtualhumans.mpi-inf.mpg.de/3DPW/",
            joint_mask=tensor(shape=(17,), dtype=np.bool_),
            pose_lsp14=tensor(shape=(14, 3), dtype=np.float32),
            keypoints_2d_detected=tensor(shape=(17, 2), dtype=np.float32),
            detection_mask=tensor(shape=(17,), dtype=np.bool_),
            sequence=text,
            person=tfds.features.Scalar(dtype=np.int64),
            image_file=text,
        )

    def _split_generators(self, dl_manager):
        files = sequence_files(dl_manager.manual_dir)  # clear error before anything is written
        return {"test": self._generate_examples(files, self.builder_config.stride)}

    def _generate_examples(self, files, stride):
        count = 0
        for path in files:
            for key_example in sequence_examples(read_sequence(path), stride):
                count += 1
                yield key_example
        if not count:  # else tfds fails with "No examples were yielded", naming no file
            raise DatasetFileError(f"{files[0].parent}: no valid frame in any of the {len(files)} sequence files "
                                   "(campose_valid is 0, or the joints are NaN or None, everywhere)")


def sequence_examples(sequence: dict, stride: int):
    """(key, example) pairs of one sequence read by `read_sequence` (valid frames, every stride-th)."""
    name = sequence["sequence"]
    action = name.rsplit("_", 1)[0] if name.rsplit("_", 1)[-1].isdigit() else name
    rotations, translations = sequence["cam_poses"][:, :3, :3], sequence["cam_poses"][:, :3, 3]
    intrinsics = sequence["intrinsics"]
    for person, (joints, valid) in enumerate(zip(sequence["joints"], sequence["valid"])):
        frames = np.flatnonzero(valid)[::stride]
        if not len(frames):
            continue
        camera = (np.einsum("fij,fnj->fni", rotations[frames], joints[frames]) + translations[frames, None]) * 1000.0
        pose17, joint_mask = skeleton.from_smpl24(camera)
        roots = camera[:, 0]
        pose17 = np.where(joint_mask[:, None], pose17 - roots[:, None], 0.0).astype(np.float32)
        lsp14 = (camera[:, skeleton.SMPL24_TO_LSP14] - roots[:, None]).astype(np.float32)
        pixels = np.where(joint_mask[:, None], geometry.project_to_pixels_numpy(
            np.where(joint_mask[:, None], pose17 + roots[:, None], 1.0), intrinsics), 0.0).astype(np.float32)
        if sequence["poses2d"] is not None:
            detected, detection_mask = openpose18_to_h36m17(sequence["poses2d"][person][frames])
        else:
            detected, detection_mask = np.zeros((len(frames), 17, 2), np.float32), np.zeros((len(frames), 17), bool)
        for row, frame in enumerate(frames):
            frame_id = int(sequence["frame_ids"][frame])
            yield f"{name}/{person}/{int(frame):06d}", {
                "pose_3d": pose17[row], "joint_mask": joint_mask, "pose_lsp14": lsp14[row],
                "root_position": roots[row].astype(np.float32), "keypoints_2d_gt": pixels[row],
                "keypoints_2d_detected": detected[row].astype(np.float32), "detection_mask": detection_mask[row],
                "intrinsics": intrinsics, "distortion": np.zeros(5, np.float32), "sequence": name, "subject": name,
                "action": action, "camera": "phone", "person": person, "frame": frame_id,
                "image_file": f"imageFiles/{name}/image_{frame_id:05d}.jpg",
            }


def prepare(manual_dir, data_dir=None, config="stride1") -> PW3D:
    """Prepares (once) and returns the builder."""
    sequence_files(manual_dir)
    return prepare_builder(PW3D, manual_dir, data_dir, config)
