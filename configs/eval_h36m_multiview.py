"""Human3.6M S9 seen by all four cameras: eval_h36m.py's 240 frames, reference camera 54138969, one prior.

posediff evaluate --config configs/eval_h36m_multiview.py [--set data.views=N] [--set data.manual_dir=DIR]
Hypotheses are sampled root-relative in camera 54138969's frame and guided by every camera's heatmaps at once
(guidance/multiview.py); `data.views=N` keeps the first N cameras (2: 54138969 + 55011271). Beside the usual
summary, `triangulation_mpjpe` is the same detections triangulated by DLT.
Expected (2-core AMD EPYC CPU, ~4 min): MPJPE best-of-1 54.2 / best-of-200 43.9 mm, PA-MPJPE 34.1, single 51.5;
DLT triangulation 85.9 (docs/results.md).
"""

import importlib.util
import pathlib


def get_config():
    path = pathlib.Path(__file__).with_name("eval_h36m.py")
    spec = importlib.util.spec_from_file_location("eval_h36m", path)
    single_view = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(single_view)
    config = single_view.get_config()
    config.data.views = 4
    return config
