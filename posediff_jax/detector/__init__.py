"""Images in: BlazePose (TFLite) front end, photo -> per-joint heatmaps + affine for the heatmap energy.

`image_to_evidence(path)` -> [(HeatmapEvidence, info)], largest person first. Needs the optional runtime:
`pip install posediff_jax[detector]`. Models: posediff_jax/assets/blazepose (Apache-2.0, see NOTICE).
"""

from posediff_jax.detector.errors import (CropTooSmallError, DetectorNotInstalledError, ImageReadError,
                                         NoPersonFoundError)
from posediff_jax.detector.front_end import default_image_path, heatmap_peaks_in_image, image_to_evidence

__all__ = ["CropTooSmallError", "DetectorNotInstalledError", "ImageReadError", "NoPersonFoundError",
           "default_image_path", "heatmap_peaks_in_image", "image_to_evidence"]
