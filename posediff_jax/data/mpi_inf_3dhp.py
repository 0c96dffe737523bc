"""MPI-INF-3DHP test set (TS1-TS6) as a tensorflow-datasets builder without TensorFlow (ArrayRecord).

`manual_dir/data_test_3dhp.npz`, the peers' converted layout: `data[TSn]` = {`data_3d` (univ_annot3, mm),
`data_2d` (annot2, px), `valid` (valid_frame), optional `activity`, optional `data_3d_metric` (annot3: the
root)}, joints in the 3DHP test order. From https://vcai.mpi-inf.mpg.de/3dhp-dataset/ (research only), per TSn:

    with h5py.File(f"TS{n}/annot_data.mat") as annot:   # arrays read transposed: [frames, 1, 17, D]
        entry = {"data_3d": np.squeeze(annot["univ_annot3"][:]), "data_2d": np.squeeze(annot["annot2"][:]),
                 "valid": np.squeeze(annot["valid_frame"][:]), "activity": np.squeeze(annot["activity_annotation"][:]),
                 "data_3d_metric": np.squeeze(annot["annot3"][:])}
    np.savez_compressed("data_test_3dhp.npz", data={"TS1": entry_1, ..., "TS6": entry_6})

Cameras: the published calibration on a 10 mm sensor (`SEQUENCE_CAMERAS`). One example per valid frame, H36M
order, plus `sequence`, `scene`, `image_file`. Configs: 'stride1', 'small' (every 10th). Split: 'test'.
"""

import pathlib
import warnings

import numpy as np
import tensorflow_datasets as tfds

from posediff_jax import skeleton
from posediff_jax.data.tfds_support import frame_dataset_info, prepare_builder, stride_configs
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
    """`{TSn: arrays}` plus `skipped`: one line per sequence or frame range left out."""

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

    `None` sequences and valid frames with non-finite values are skipped (marked invalid) with ONE
    `DatasetWarning`; a wrong layout or no valid frame left is a `DatasetFileError` naming the file.
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
        finite = np.all([np.isfinite(checked[key]).all(axis=(1, 2)) for key in ("data_3d", "data_2d", "data_3d_metric")
                         if key in checked], axis=0)
        bad = valid & ~finite
        if bad.any():
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
    """MPI-INF-3DHP test frames."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = stride_configs(10)
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
    # Activity codes as the .mat stores them, floats: an unknown code or a NaN is named ''.
    activity = np.nan_to_num(np.asarray(entry.get("activity", np.zeros(len(entry["valid"]))), np.float64))
    camera = SEQUENCE_CAMERAS[name]
    for row, frame in enumerate(frames):
        yield f"{name}/{int(frame):06d}", {
            "pose_3d": (universal[row] - universal[row, :1]).astype(np.float32),
            "root_position": metric[row, 0].astype(np.float32), "keypoints_2d_gt": pixels[row].astype(np.float32),
            "intrinsics": camera["intrinsics"], "distortion": np.zeros(5, np.float32),
            "sequence": name, "subject": name, "scene": camera["scene"], "camera": "", "frame": int(frame),
            "action": ACTIVITIES.get(int(activity[frame]), ""),
            "image_file": f"{name}/imageSequence/img_{int(frame) + 1:06d}.jpg",
        }


def prepare(manual_dir, data_dir=None, config="stride1") -> MPIInf3DHP:
    """Prepares (once) and returns the builder."""
    read_test_sequences(manual_dir)
    return prepare_builder(MPIInf3DHP, manual_dir, data_dir, config)
