"""MPI-INF-3DHP test set (TS1-TS6) as a tensorflow-datasets builder without TensorFlow (ArrayRecord).

File the user places in `manual_dir`: `data_test_3dhp.npz`, the converted layout used by peers
(P-STMO, MixSTE, MotionAGFormer, ...): `np.load(f, allow_pickle=True)['data'].item()` is
`{'TS1': {...}, ..., 'TS6': {...}}` with, per sequence,
- `data_3d`  `[frames, 17, 3]`: `univ_annot3` (mm, camera frame, the 'universal' skeleton PCK/AUC use),
- `data_2d`  `[frames, 17, 2]`: `annot2` (pixels),
- `valid`    `[frames]`: `valid_frame` (1 = annotated frame),
- optional `activity` `[frames]`: `activity_annotation` (1..7, see `ACTIVITIES`),
- optional `data_3d_metric` `[frames, 17, 3]`: `annot3` (metric mm; gives `root_position`).
Joints in the 17-joint test order (`skeleton.MPI_INF_3DHP17_NAMES`). The test set comes from
https://vcai.mpi-inf.mpg.de/3dhp-dataset/ (`mpi_inf_3dhp_test_set/TS*/annot_data.mat`, MATLAB v7.3 = HDF5;
licence: research only). Conversion (needs h5py, which this project does not depend on), per sequence:

    with h5py.File(f"TS{n}/annot_data.mat") as annot:   # arrays read transposed: [frames, 1, 17, D]
        entry = {"data_3d": np.squeeze(annot["univ_annot3"][:]), "data_2d": np.squeeze(annot["annot2"][:]),
                 "valid": np.squeeze(annot["valid_frame"][:]), "activity": np.squeeze(annot["activity_annotation"][:]),
                 "data_3d_metric": np.squeeze(annot["annot3"][:])}
    np.savez_compressed("data_test_3dhp.npz", data={"TS1": entry_1, ..., "TS6": entry_6})

Cameras (`SEQUENCE_CAMERAS`, from the published test-set calibration, in mm on a 10 mm wide sensor): TS1-TS4
2048x2048 px, focal 7.32506 mm, principal-point offset (-0.0322884, 0.0929296) mm; TS5-TS6 1920x1080 px, focal
8.770747185 mm, offset (-0.104908645, 0.104899704) mm; pixels = mm * width / 10. Scenes: TS1-2 green screen
('GS'), TS3-4 studio without green screen ('noGS'), TS5-6 outdoor ('outdoor').

Every example is one valid frame: `pose_3d [17, 3]` (univ_annot3, H36M order via `skeleton.from_mpi_inf_3dhp17`,
root-relative mm); `root_position [3]` (annot3 pelvis when given, else the univ_annot3 pelvis); `keypoints_2d_gt
[17, 2]` (annot2, H36M order); `intrinsics [3, 3]`; `distortion [5]` (zeros); `sequence` / `subject` ('TS1'..),
`scene`, `action` (activity name or ''), `camera` ('' : one camera per sequence), `frame` (0-based index),
`image_file` ('TS1/imageSequence/img_000001.jpg', 1-based as in the release).

Configs: 'stride1' (every valid frame) and 'small' (every 10th frame). Split: 'test'.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np
import tensorflow_datasets as tfds

from posediff_jax import skeleton
from posediff_jax.data.tfds_support import StrideConfig, frame_dataset_info, prepare_builder
from posediff_jax.data.videopose3d import DatasetFileError, DatasetWarning

TEST_FILE = "data_test_3dhp.npz"
SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
ACTIVITIES = {1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching", 5: "On The Floor",
              6: "Sports", 7: "Miscellaneous"}
SCENES = {"TS1": "GS", "TS2": "GS", "TS3": "noGS", "TS4": "noGS", "TS5": "outdoor", "TS6": "outdoor"}
SENSOR_WIDTH_MM = 10.0


def _camera(width: int, height: int, focal_mm: float, offset_x_mm: float, offset_y_mm: float) -> dict:
    pixels_per_mm = width / SENSOR_WIDTH_MM
    intrinsics = np.array([[focal_mm * pixels_per_mm, 0.0, width / 2 + offset_x_mm * pixels_per_mm],
                           [0.0, focal_mm * pixels_per_mm, height / 2 + offset_y_mm * pixels_per_mm],
                           [0.0, 0.0, 1.0]], np.float32)
    return {"intrinsics": intrinsics, "image_size": (width, height)}


_STUDIO = _camera(2048, 2048, 7.32506, -0.0322884, 0.0929296)
_OUTDOOR = _camera(1920, 1080, 8.770747185, -0.104908645, 0.104899704)
SEQUENCE_CAMERAS = {name: dict(_STUDIO if SCENES[name] != "outdoor" else _OUTDOOR, scene=SCENES[name])
                    for name in SEQUENCES}


class TestSequences(dict):
    """`{TSn: arrays}` plus `skipped`: one line per sequence or frame range left out (see `read_test_sequences`)."""

    skipped: tuple = ()


def _not_found(path: pathlib.Path) -> str:
    """Why `data_test_3dhp.npz` is not in the manual_dir, with a hint for the usual wrong layouts."""
    folder = path.parent
    hint = ""
    if list(folder.glob("TS*/annot_data.mat")) or list(folder.glob("*/TS*/annot_data.mat")):
        hint = (" Found the raw test set (TSn/annot_data.mat): convert it into data_test_3dhp.npz first, as shown in "
                "posediff_jax/data/mpi_inf_3dhp.py.")
    elif (folder / "data_train_3dhp.npz").is_file():
        hint = " Found data_train_3dhp.npz: that is the training set; this builder reads the test set TS1..TS6."
    else:
        nested = sorted(folder.glob(f"*/{TEST_FILE}")) if folder.is_dir() else []
        if nested:
            hint = f" Found {nested[0]}: set the manual_dir to {nested[0].parent}."
    return (f"{path}: not found. Expected the converted MPI-INF-3DHP test set {TEST_FILE} "
            "(data: TSn -> {data_3d [frames, 17, 3], data_2d [frames, 17, 2], valid [frames]}) "
            "in the manual_dir; see posediff_jax/data/mpi_inf_3dhp.py for the conversion." + hint)


def read_test_sequences(manual_dir) -> TestSequences:
    """`{TSn: {'data_3d', 'data_2d', 'valid', 'activity'?, 'data_3d_metric'?}}` from `data_test_3dhp.npz`, validated.

    Public copies of this file are messy, so two things are skipped rather than failed on, with ONE
    `DatasetWarning` naming them and the count, and listed in the result's `skipped`: a sequence whose entry is
    `None`, and valid frames whose poses or 2D points are NaN / infinite (they are marked invalid, as otherwise
    NaN ground truth would reach the metrics; NaN in invalid frames is ignored, those frames are never read).
    An optional field that is `None` counts as absent. A wrong layout, a missing required field or a file with no
    valid frame left is a `DatasetFileError` naming the file.
    """
    path = pathlib.Path(manual_dir).expanduser() / TEST_FILE
    if not path.is_file():
        raise DatasetFileError(_not_found(path))
    try:
        # A pickled dict inside the npz: the user's file only. latin1 also reads Python-2-written copies.
        with np.load(path, allow_pickle=True, encoding="latin1") as archive:
            data = archive["data"].item()
    except Exception as error:
        raise DatasetFileError(f"{path}: unreadable or not the converted 3DHP layout ({type(error).__name__}: "
                               f"{error})") from None
    if not isinstance(data, dict) or not data:
        raise DatasetFileError(f"{path}: 'data' must be a non-empty dict TSn -> arrays")
    sequences, skipped = TestSequences(), []
    for name, entry in data.items():
        name = name.decode("latin1") if isinstance(name, bytes) else name
        if name not in SEQUENCE_CAMERAS:
            hint = (" (S1..S8 are the training subjects: this builder reads the test set)"
                    if str(name).startswith("S") and str(name)[1:].isdigit() else "")
            raise DatasetFileError(f"{path}: unknown sequence {name!r}; expected {list(SEQUENCES)}{hint}")
        if entry is None:
            skipped.append(f"{name} (None in the file)")
            continue
        if not isinstance(entry, dict) or any(entry.get(key) is None for key in ("data_3d", "data_2d", "valid")):
            raise DatasetFileError(f"{path}: {name} must hold data_3d, data_2d and valid")
        checked = {}
        frames = len(np.atleast_1d(np.asarray(entry["data_3d"])))
        for key, shape in (("data_3d", (frames, 17, 3)), ("data_2d", (frames, 17, 2)), ("valid", (frames,)),
                           ("activity", (frames,)), ("data_3d_metric", (frames, 17, 3))):
            if entry.get(key) is None:
                continue
            value = np.asarray(entry[key])
            if value.shape != shape:
                raise DatasetFileError(f"{path}: {name} {key} has shape {list(value.shape)}, expected "
                                       f"{['frames' if i == 0 else s for i, s in enumerate(shape)]} "
                                       f"(17 joints in the 3DHP test order)")
            try:
                value = value.astype(np.float64)
            except (TypeError, ValueError) as error:
                raise DatasetFileError(f"{path}: {name} {key} is not numeric ({error})") from None
            checked[key] = value
        valid = np.nan_to_num(checked["valid"]) > 0
        finite = np.ones(frames, bool)
        for key in ("data_3d", "data_2d", "data_3d_metric"):
            if key in checked:
                finite &= np.isfinite(checked[key]).all(axis=(1, 2))
        if (valid & ~finite).any():
            bad = valid & ~finite
            skipped.append(f"{name}: {int(bad.sum())} of {int(valid.sum())} valid frames with NaN or infinite "
                           f"values (first: frame {int(np.argmax(bad))})")
            valid &= finite
        checked["valid"] = valid.astype(np.float64)
        sequences[name] = checked
    if skipped:
        warnings.warn(f"{path}: skipping {'; '.join(skipped)}", DatasetWarning, stacklevel=2)
    if not any(np.any(entry["valid"] > 0) for entry in sequences.values()):
        raise DatasetFileError(f"{path}: no valid frame in any sequence (valid is 0, or the poses are NaN, "
                               "everywhere); expected valid_frame = 1 on annotated frames")
    sequences.skipped = skipped
    return sequences


class MPIInf3DHP(tfds.core.GeneratorBasedBuilder):
    """MPI-INF-3DHP test frames (see the module docstring for the file, fields, cameras and configs)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        StrideConfig(name="stride1", description="every valid frame", stride=1),
        StrideConfig(name="small", description="every 10th valid frame", stride=10),
    ]
    DEFAULT_CONFIG_NAME = "stride1"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download the MPI-INF-3DHP test set (mpi_inf_3dhp_test_set, https://vcai.mpi-inf.mpg.de/3dhp-dataset/)
    and convert TS1..TS6/annot_data.mat into data_test_3dhp.npz as shown in posediff_jax/data/mpi_inf_3dhp.py
    (or use a peer's data_test_3dhp.npz in the same layout); place it in the manual_dir.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        text = tfds.features.Text()
        return frame_dataset_info(self, __doc__, "https://vcai.mpi-inf.mpg.de/3dhp-dataset/", sequence=text,
                                  scene=text, image_file=text)

    def _split_generators(self, dl_manager):
        sequences = read_test_sequences(dl_manager.manual_dir)  # validated before anything is written
        return {"test": self._generate_examples(sequences, self.builder_config.stride)}

    def _generate_examples(self, sequences, stride):
        for name in sorted(sequences):
            yield from sequence_examples(name, sequences[name], stride)


def sequence_examples(name: str, entry: dict, stride: int):
    """(key, example) pairs of one test sequence: valid frames only, every stride-th."""
    frames = np.flatnonzero(np.asarray(entry["valid"]) > 0)[::stride]
    universal = skeleton.from_mpi_inf_3dhp17(np.asarray(entry["data_3d"], np.float32)[frames])
    metric = universal if "data_3d_metric" not in entry else skeleton.from_mpi_inf_3dhp17(
        np.asarray(entry["data_3d_metric"], np.float32)[frames])
    pixels = skeleton.from_mpi_inf_3dhp17(np.asarray(entry["data_2d"], np.float32)[frames])
    activity = np.asarray(entry.get("activity", np.zeros(len(entry["valid"]))))
    camera = SEQUENCE_CAMERAS[name]
    for row, frame in enumerate(frames):
        yield f"{name}/{int(frame):06d}", {
            "pose_3d": (universal[row] - universal[row, :1]).astype(np.float32),
            "root_position": metric[row, 0].astype(np.float32),
            "keypoints_2d_gt": pixels[row].astype(np.float32),
            "intrinsics": camera["intrinsics"],
            "distortion": np.zeros(5, np.float32),
            "sequence": name,
            "subject": name,
            "scene": camera["scene"],
            "action": _activity(activity[frame]),
            "camera": "",
            "frame": int(frame),
            "image_file": f"{name}/imageSequence/img_{int(frame) + 1:06d}.jpg",
        }


def _activity(value) -> str:
    """Activity name of one frame; '' for an unknown code or a NaN (the .mat stores floats)."""
    value = float(value)
    return ACTIVITIES.get(int(value), "") if np.isfinite(value) else ""


def prepare(manual_dir, data_dir=None, config="stride1") -> MPIInf3DHP:
    """Prepares (once; later calls reuse it) and returns the builder."""
    read_test_sequences(manual_dir)
    return prepare_builder(MPIInf3DHP, manual_dir, data_dir, config)
