"""Writes a compact training-pose file for `config.data.source='npz'` (a machine without the dataset folder).

    PYTHONPATH=. python tools/make_pose_file.py --manual-dir ../shared/data/h36m --output runs/h36m_train_poses.npz

World-frame root-relative 17-joint poses (float32 mm, compressed) of the training subjects (every stored frame)
and every 16th frame of the held-out subjects, with subject labels; `data.pipeline.read_pose_file` expands
them over the four cameras (camera-frame poses + each pose's up vector). Derived from Human3.6M: keep it out of
the repository (academic, non-commercial licence).
"""

from __future__ import annotations

import argparse

from posediff_jax.data.pipeline import write_pose_file


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manual-dir", required=True, help="folder with data_3d_h36m.npz")
    parser.add_argument("--output", required=True)
    parser.add_argument("--train-subjects", default="S1,S5,S6,S7,S8")
    parser.add_argument("--held-out-subjects", default="S9")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--held-out-stride", type=int, default=16)
    args = parser.parse_args(argv)
    path = write_pose_file(args.output, args.manual_dir, args.train_subjects.split(","),
                           args.held_out_subjects.split(","), args.stride, args.held_out_stride)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
