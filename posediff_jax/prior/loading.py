"""Loading a prior: an export folder, a training workdir, a shipped prior, or a name.

`resolve_prior(spec, exact_evidence=False)` is the one entry point commands, evaluation and tools use:
- `'default'` (or None / ''): the small prior shipped in `posediff_jax/assets/prior`;
- `'wide_proportions'`: the shipped prior trained with each body part's bone lengths scaled at random
  (`config.data.bone_scale_sigma=0.05`, `posediff_jax/assets/prior_wide_proportions`): better with exact 2D
  evidence, worse with a detector's (docs/results_h36m.md, "Shipping the bone-proportion prior for exact 2D");
- `'auto'` (the commands' default): `'wide_proportions'` when the caller's 2D evidence is exact
  (`exact_evidence=True`: ground-truth or motion-capture keypoints), `'default'` otherwise (a detector's 2D,
  known 3D joints, generation);
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
NAMED_PRIORS = ("auto", "default", "wide_proportions", "gaussian", "tiny")
# Shipped priors: name -> folder under posediff_jax/assets (README, "What ships inside the package").
SHIPPED_PRIORS = {"default": "prior", "wide_proportions": "prior_wide_proportions"}
# What 'auto' resolves to, by whether the 2D evidence is exact (`resolve_prior`).
AUTO_PRIORS = {False: "default", True: "wide_proportions"}


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


def shipped_prior_path(name: str = "default") -> pathlib.Path:
    """The folder of shipped prior `name` (`SHIPPED_PRIORS`)."""
    return pathlib.Path(str(importlib_resources.files("posediff_jax") / "assets" / SHIPPED_PRIORS[name]))


def default_prior_path() -> pathlib.Path:
    return shipped_prior_path("default")


def load_shipped_prior(name: str = "default", build_network: bool = True) -> Prior:
    """A prior shipped in `posediff_jax/assets` (`SHIPPED_PRIORS`; README: how each was trained)."""
    path = shipped_prior_path(name)
    if not (path / prior_format.PARAMS_NPZ).is_file():
        raise prior_format.PriorFormatError(
            f"the shipped prior {name!r} is missing from {path}; reinstall posediff_jax or pass a prior folder")
    return load_prior(path, build_network)


def load_default_prior(build_network: bool = True) -> Prior:
    """The small prior shipped in `posediff_jax/assets/prior` (see README: how it was trained)."""
    return load_shipped_prior("default", build_network)


def prior_name(spec=None, exact_evidence: bool = False) -> str:
    """What `spec` names for this evidence: 'auto' -> `AUTO_PRIORS[exact_evidence]`, None / '' -> 'default',
    anything else (a name, a folder) as given."""
    text = "" if spec is None else str(spec)
    if text == "auto":
        return AUTO_PRIORS[bool(exact_evidence)]
    return text or "default"


def resolve_prior(spec=None, build_network: bool = True, exact_evidence: bool = False) -> Prior:
    """`'auto'` | `'default'` | `'wide_proportions'` | PATH | `'gaussian'` | `'tiny'` -> `Prior` (module docstring).

    build_network: see `load_prior`. exact_evidence: whether the 2D evidence the prior will be guided by is exact
      (only `'auto'` reads it).
    """
    if isinstance(spec, Prior):
        return spec
    text = prior_name(spec, exact_evidence)
    if text in SHIPPED_PRIORS:
        return load_shipped_prior(text, build_network)
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
