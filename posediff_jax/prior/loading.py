"""Loading a prior: an export folder, a training workdir, the shipped default, or a name.

`resolve_prior(spec)` is the one entry point commands, evaluation and tools use:
- `'default'` (or None / ''): the small prior shipped in `posediff_jax/assets/prior`;
- a folder: an export (`prior.json` + `params.npz`) or a training workdir (its latest Orbax checkpoint;
  reading one imports orbax, which only a training install needs);
- `'gaussian'`: the analytic Gaussian baseline (`gaussian.py`, no weights);
- `'tiny'`: a random tiny network (plumbing tests).
"""

from __future__ import annotations

import pathlib

import importlib_resources

from posediff_jax.prior import format as prior_format
from posediff_jax.prior.prior import Prior

CHECKPOINT_DIR = "checkpoints"
NAMED_PRIORS = ("default", "gaussian", "tiny")


def load_prior(path, build_network: bool = True) -> Prior:
    """A `Prior` from an export folder (`params.npz` + `prior.json`) or a training workdir (latest checkpoint).

    build_network: False builds the network, and checks the weights against it, at the first network call instead
      of now (`prior_format.NetworkApply`: what a process that may only call a stored sampler wants).
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise prior_format.PriorFormatError(f"prior {str(path)!r}: no such folder")
    if path.is_file():
        raise prior_format.PriorFormatError(
            f"prior {str(path)!r}: is a file; expected a folder with {prior_format.PRIOR_JSON}")
    description = prior_format.read_prior_description(path)
    if (path / prior_format.PARAMS_NPZ).is_file():
        params = prior_format.read_params(path / prior_format.PARAMS_NPZ)
        return prior_format.prior_from_description(description, params, path / prior_format.PARAMS_NPZ,
                                                    build_network)
    if not (path / CHECKPOINT_DIR).is_dir():
        raise prior_format.PriorFormatError(
            f"prior {path}: neither {prior_format.PARAMS_NPZ} nor {CHECKPOINT_DIR}/ found")
    from posediff_jax.prior.workdir import restore_ema_params  # imports orbax: only for training workdirs

    params, source = restore_ema_params(path)
    return prior_format.prior_from_description(description, params, source, build_network)


def default_prior_path() -> pathlib.Path:
    return pathlib.Path(str(importlib_resources.files("posediff_jax") / "assets" / "prior"))


def load_default_prior(build_network: bool = True) -> Prior:
    """The small prior shipped in `posediff_jax/assets/prior` (see README: how it was trained)."""
    path = default_prior_path()
    if not (path / prior_format.PARAMS_NPZ).is_file():
        raise prior_format.PriorFormatError(
            f"the shipped prior is missing from {path}; reinstall posediff_jax or pass a prior folder")
    return load_prior(path, build_network)


def resolve_prior(spec=None, build_network: bool = True) -> Prior:
    """`'default'` | PATH | `'gaussian'` | `'tiny'` -> `Prior` (see the module docstring; `build_network`: `load_prior`)."""
    if isinstance(spec, Prior):
        return spec
    text = "" if spec is None else str(spec)
    if text in ("", "default"):
        return load_default_prior(build_network)
    if text == "gaussian":
        from posediff_jax.prior.gaussian import make_gaussian_prior

        return make_gaussian_prior()
    if text == "tiny":
        from posediff_jax.prior.tiny import make_tiny_prior

        return make_tiny_prior()
    if not pathlib.Path(text).exists():
        raise prior_format.PriorFormatError(
            f"prior {text!r}: no such folder (expected a prior folder or one of {NAMED_PRIORS})")
    return load_prior(text, build_network)
