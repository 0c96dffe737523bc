"""Loading a prior: `resolve_prior(spec, exact_evidence=False)`, the one entry point, takes
- `'default'` (or None / ''): the small prior shipped in `posediff_jax/assets/prior`;
- `'wide_proportions'`: the shipped prior trained with bone lengths scaled at random per body part: better with
  exact 2D evidence, worse with a detector's (docs/decisions.md, "Bone-proportion prior");
- `'auto'` (the commands' default): `'wide_proportions'` for exact 2D evidence, else `'default'`;
- a folder: an export (`prior.json` + `params.npz`) or a training workdir (its latest Orbax checkpoint);
- `'gaussian'` (the analytic baseline) or `'tiny'` (a random tiny network, for plumbing tests).
"""

from __future__ import annotations

import pathlib

import importlib_resources

from posediff_jax.prior import format as prior_format
from posediff_jax.prior.prior import Prior
from posediff_jax.prior.workdir import CHECKPOINT_DIR, restore_ema_params  # orbax only once a workdir is read

NAMED_PRIORS = ("auto", "default", "wide_proportions", "gaussian", "tiny")
# Shipped priors: name -> folder under posediff_jax/assets (docs/architecture.md, "Shipped files").
SHIPPED_PRIORS = {"default": "prior", "wide_proportions": "prior_wide_proportions"}
# What 'auto' resolves to, by whether the 2D evidence is exact (`resolve_prior`).
AUTO_PRIORS = {False: "default", True: "wide_proportions"}


def load_prior(path, build_network: bool = True) -> Prior:
    """A `Prior` from an export folder or a training workdir (`build_network`: `prior_from_description`)."""
    path = pathlib.Path(path)
    if not path.exists():
        raise prior_format.PriorFormatError(f"prior {str(path)!r}: no such folder")
    if path.is_file():
        raise prior_format.PriorFormatError(f"prior {str(path)!r}: is a file; expected a folder with "
                                            f"{prior_format.PRIOR_JSON}")
    description = prior_format.read_prior_description(path)
    npz = path / prior_format.PARAMS_NPZ
    if npz.is_file():
        return prior_format.prior_from_description(description, prior_format.read_params(npz), npz, build_network)
    if not (path / CHECKPOINT_DIR).is_dir():
        raise prior_format.PriorFormatError(
            f"prior {path}: neither {prior_format.PARAMS_NPZ} nor {CHECKPOINT_DIR}/ found")
    params, source = restore_ema_params(path)
    return prior_format.prior_from_description(description, params, source, build_network)


def shipped_prior_path(name: str = "default") -> pathlib.Path:
    """The folder of shipped prior `name` (`SHIPPED_PRIORS`)."""
    return pathlib.Path(str(importlib_resources.files("posediff_jax") / "assets" / SHIPPED_PRIORS[name]))


def default_prior_path() -> pathlib.Path:
    return shipped_prior_path("default")


def load_shipped_prior(name: str = "default", build_network: bool = True) -> Prior:
    """A prior shipped in `posediff_jax/assets` (`SHIPPED_PRIORS`)."""
    path = shipped_prior_path(name)
    if not (path / prior_format.PARAMS_NPZ).is_file():
        raise prior_format.PriorFormatError(
            f"the shipped prior {name!r} is missing from {path}; reinstall posediff_jax or pass a prior folder")
    return load_prior(path, build_network)


def load_default_prior(build_network: bool = True) -> Prior:
    return load_shipped_prior("default", build_network)


def prior_name(spec=None, exact_evidence: bool = False) -> str:
    """What `spec` names for this evidence: 'auto' -> `AUTO_PRIORS[exact_evidence]`, None / '' -> 'default'."""
    text = "" if spec is None else str(spec)
    if text == "auto":
        return AUTO_PRIORS[bool(exact_evidence)]
    return text or "default"


def resolve_prior(spec=None, build_network: bool = True, exact_evidence: bool = False) -> Prior:
    """`'auto'` | `'default'` | `'wide_proportions'` | PATH | `'gaussian'` | `'tiny'` -> `Prior` (module docstring)."""
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
