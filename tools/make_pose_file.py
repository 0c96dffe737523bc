"""Writes a compact training-pose file for `config.data.source='npz'` (a machine without the dataset folder).

    PYTHONPATH=. python tools/make_pose_file.py --manual-dir ../shared/data/h36m --output runs/h36m_train_poses.npz

World-frame root-relative 17-joint poses (float32 mm, compressed) of the training subjects (every stored frame)
and every 16th frame of the held-out subjects, with subject labels; `data.pipeline.read_pose_file` expands
them over the four cameras (camera-frame poses + each pose's up vector). Derived from Human3.6M: keep it out of
the repository (academic, non-commercial licence). User mistakes (a missing folder, an unknown subject, a stride
of 0, NaN positions) are one `make_pose_file.py: error: ...` line and exit code 2, as in the `posediff` commands.
"""

from __future__ import annotations

import argparse
import pathlib

from posediff_jax.cli import run_with_one_line_messages
from posediff_jax.data.pipeline import check_stride, write_pose_file
from posediff_jax.io_utils import make_writable_folder
from posediff_jax.validation import PoseDiffError


def subject_list(text: str, flag: str) -> list:
    """'S1,S5' -> ['S1', 'S5'] (blanks dropped); none at all is an error naming the flag."""
    subjects = [name.strip() for name in text.split(",") if name.strip()]
    if not subjects:
        raise PoseDiffError(f"{flag}: expected comma-separated subjects, e.g. S1,S5, got {text!r}")
    return subjects


def run(args) -> int:
    from posediff_jax.commands.common import check_writable

    for flag, value in (("--stride", args.stride), ("--held-out-stride", args.held_out_stride)):
        check_stride(flag, value)  # write_pose_file's own check, naming the flag, before the folder is made
    if not pathlib.Path(args.manual_dir).expanduser().is_dir():
        raise PoseDiffError(f"--manual-dir: {args.manual_dir!r} is not a folder (expected the one with "
                            "data_3d_h36m.npz)")
    output = pathlib.Path(args.output)
    # The folder is made as the write would make it (`--output runs/...` in a fresh checkout: docs/results.md).
    make_writable_folder(output.parent, "--output's folder")
    check_writable(output, "--output")  # before minutes of reading
    path = write_pose_file(args.output, args.manual_dir, subject_list(args.train_subjects, "--train-subjects"),
                           subject_list(args.held_out_subjects, "--held-out-subjects"), args.stride,
                           args.held_out_stride)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog=pathlib.Path(__file__).name, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manual-dir", required=True, help="folder with data_3d_h36m.npz")
    parser.add_argument("--output", required=True)
    parser.add_argument("--train-subjects", default="S1,S5,S6,S7,S8")
    parser.add_argument("--held-out-subjects", default="S9")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--held-out-stride", type=int, default=16)
    args = parser.parse_args(argv)
    return run_with_one_line_messages(parser.prog, lambda: run(args))  # as the posediff commands report

if __name__ == "__main__":
    raise SystemExit(main())
