"""Makes posediff_jax/assets/examples/h36m_s9_examples.npz: a handful of Human3.6M S9 test frames.

    PYTHONPATH=. python tools/make_demo_examples.py --manual-dir ../shared/data/h36m

Reads the VideoPose3D-layout files (`data_3d_h36m.npz`, `data_2d_h36m_sh_pt_mpii_S9.npz`) with the direct
evaluation loader (`data.evaluation_frames`, loader 'videopose3d'; cameras built in) and keeps
`--num-examples` frames, each from a different action, cycling through the four cameras. Stored per frame:
`pose_3d [N, 17, 3]` (mm, camera frame, root-relative), `root_position [N, 3]` mm, `keypoints_2d_gt [N, 17, 2]`
(the ground truth projected with lens distortion), `keypoints_2d_detected [N, 17, 2]` + `detection_mask
[N, 17]` (the Stacked-Hourglass MPII detections mapped to H36M-17; Spine has no MPII counterpart),
`intrinsics [N, 3, 3]`, `distortion [N, 5]`, `subject`, `action`, `camera` (strings), `frame` (int).
Human3.6M is licensed for academic, non-commercial use by its authors; these few frames carry that licence.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import ml_collections
import numpy as np

from posediff_jax.data import evaluation_frames
from posediff_jax.data.cameras import CAMERA_IDS
from posediff_jax.io_utils import save_npz_atomic

DEFAULT_OUTPUT = pathlib.Path(__file__).resolve().parents[1] / "posediff_jax" / "assets" / "examples" / "h36m_s9_examples.npz"
# One frame each from these actions (varied poses: standing, sitting, bending, walking).
DEFAULT_ACTIONS = ("Directions", "Eating", "Greeting", "Phoning", "Posing", "Sitting", "SittingDown", "Walking")


def select_examples(frames: dict, actions, seed: int = 0) -> np.ndarray:
    """Indices of one frame per action (the middle of its sequence), camera i % 4 for the i-th action."""
    rng = np.random.default_rng(seed)
    chosen = []
    for number, action in enumerate(actions):
        camera = CAMERA_IDS[number % len(CAMERA_IDS)]
        candidates = np.flatnonzero((frames["action"] == action) & (frames["camera"] == camera))
        if candidates.size == 0:
            raise SystemExit(f"make_demo_examples: no frames of action {action!r}, camera {camera}")
        middle = candidates[len(candidates) // 2 + int(rng.integers(-2, 3))]
        chosen.append(middle)
    return np.asarray(chosen)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manual-dir", default="../shared/data/h36m")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--actions", nargs="+", default=list(DEFAULT_ACTIONS))
    parser.add_argument("--frame-stride", type=int, default=50)
    args = parser.parse_args(argv)
    config = ml_collections.ConfigDict({"dataset": "h36m", "data": {
        "loader": "videopose3d", "manual_dir": args.manual_dir, "detections": "sh_pt_mpii", "subjects": ("S9",),
        "cameras": (), "actions": tuple(args.actions), "frame_stride": args.frame_stride, "max_frames": 0,
    }})  # fmt: skip
    frames = evaluation_frames.load_frames(config)
    keep = select_examples(frames, args.actions)
    examples = {name: value[keep] for name, value in frames.items()}
    for name, value in examples.items():
        if value.dtype.kind == "f":
            examples[name] = value.astype(np.float32)
    path = save_npz_atomic(args.output, **examples)
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KB): {len(keep)} frames")
    for index in range(len(keep)):
        print(f"  {examples['subject'][index]} {examples['action'][index]:<14} camera {examples['camera'][index]} "
              f"frame {examples['frame'][index]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
