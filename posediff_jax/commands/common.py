"""Shared pieces of the `estimate`, `complete` and `generate` commands: options, prior loading, safe writes."""

from __future__ import annotations

import os
import pathlib
import tempfile

import numpy as np

from posediff_jax.validation import PoseDiffError


def add_sampling_arguments(parser, default_hypotheses: int = 50, default_scale: float = 0.1):
    """Options every sampling command shares."""
    group = parser.add_argument_group("sampling")
    group.add_argument("--num-hypotheses", type=int, default=default_hypotheses, help="hypotheses per input (m)")
    group.add_argument("--steps", type=int, default=50, help="reverse diffusion steps")
    group.add_argument("--method", choices=("ddim", "ddpm"), default="ddim", help="sampler")
    group.add_argument("--guidance", choices=("dps", "x0"), default="dps",
                       help="dps: gradient through the network; x0: gradient on the x0 estimate only (cheaper)")
    group.add_argument("--guidance-scale", type=float, default=default_scale,
                       help=f"guidance step in model space (default {default_scale}; 0 = unguided)")
    group.add_argument("--scale-schedule", choices=("constant", "increasing", "alpha_bar"), default="constant")
    group.add_argument("--seed", type=int, default=0, help="random seed (results are deterministic per seed)")
    group.add_argument("--chunk-size", type=int, default=256, help="hypotheses per vectorised chunk (memory bound)")
    group.add_argument("--checkpoint", default=None,
                       help="trained prior (Orbax checkpoint directory); default: the shipped prior")
    group.add_argument("--prior", choices=("trained", "gaussian"), default="trained",
                       help="'gaussian': analytic Gaussian baseline prior around a standing pose (no checkpoint)")
    group.add_argument("--output", required=True, type=pathlib.Path, help="output .npz (a .png is written beside it)")
    group.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    group.add_argument("--quiet", action="store_true", help="no progress bar")


def check_common_arguments(args):
    if args.num_hypotheses < 1:
        raise PoseDiffError(f"--num-hypotheses: expected >= 1, got {args.num_hypotheses}")
    if args.steps < 1:
        raise PoseDiffError(f"--steps: expected >= 1, got {args.steps}")
    if not np.isfinite(args.guidance_scale) or args.guidance_scale < 0:
        raise PoseDiffError(f"--guidance-scale: expected a finite value >= 0, got {args.guidance_scale}")
    if args.output.suffix != ".npz":
        raise PoseDiffError(f"--output: expected a .npz path, got {str(args.output)!r}")
    if not args.output.parent.exists():
        raise PoseDiffError(f"--output: folder {str(args.output.parent)!r} does not exist")


def load_prior(args):
    """The prior the options ask for: --prior gaussian, --checkpoint PATH, or the shipped default."""
    if args.prior == "gaussian":
        from posediff_jax.prior.gaussian import make_gaussian_prior

        return make_gaussian_prior()
    try:
        from posediff_jax.training import checkpoint
    except ImportError as error:
        raise PoseDiffError(f"no trained prior available ({error}); pass --prior gaussian for the baseline") from None
    if args.checkpoint:
        if not os.path.exists(args.checkpoint):
            raise PoseDiffError(f"--checkpoint: {args.checkpoint!r} does not exist")
        return prior_lib.load_prior(args.checkpoint)
    return prior_lib.load_default_prior()


def load_npz(path) -> dict:
    """Arrays of an .npz as a dict (clear error for a missing or unreadable file)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise PoseDiffError(f"--input: file {str(path)!r} not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except Exception as error:  # noqa: BLE001 - any reader error is a user input problem here
        raise PoseDiffError(f"--input: cannot read {str(path)!r} as .npz ({error})") from None


def write_outputs(npz_path, arrays: dict, plot_fn=None):
    """Writes the .npz (and, with `plot_fn(png_path)`, the PNG beside it) all-or-nothing.

    Both go to temporary files in the destination folder first; only when both succeeded are they renamed
    into place, so a failure leaves no partial output.
    """
    npz_path = pathlib.Path(npz_path)
    png_path = npz_path.with_suffix(".png")
    umask = os.umask(0)
    os.umask(umask)
    temporaries = []
    try:
        handle, npz_temporary = tempfile.mkstemp(prefix=f".{npz_path.stem}.", suffix=".npz.tmp", dir=npz_path.parent)
        temporaries.append(npz_temporary)
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **{name: np.asarray(value) for name, value in arrays.items()})
        if plot_fn is not None:
            handle, png_temporary = tempfile.mkstemp(prefix=f".{npz_path.stem}.", suffix=".png", dir=npz_path.parent)
            os.close(handle)
            temporaries.append(png_temporary)
            plot_fn(png_temporary)
            os.chmod(png_temporary, 0o666 & ~umask)
            os.replace(png_temporary, png_path)
        os.chmod(npz_temporary, 0o666 & ~umask)
        os.replace(npz_temporary, npz_path)
    finally:
        for temporary in temporaries:
            if os.path.exists(temporary):
                os.remove(temporary)
    return npz_path, (png_path if plot_fn is not None else None)


def progress(iterable, total, quiet, description):
    from tqdm import tqdm

    return tqdm(iterable, total=total, disable=quiet, desc=description, unit="batch")


def sample_in_batches(sampler, evidence, args, description: str):
    """`([frames, m, 17, 3], [frames, m])` hypotheses and energies, `args.batch_size` frames per sampler call
    (key `fold_in(seed, first frame)`), with a progress bar over batches."""
    import jax

    from posediff_jax.guidance import evidence as evidence_lib

    frames = evidence_lib.num_frames(evidence)
    key = jax.random.PRNGKey(args.seed)
    hypotheses, energies = [], []
    starts = range(0, frames, args.batch_size)
    for start in progress(starts, len(starts), args.quiet, description):
        batch = evidence_lib.index_evidence(evidence, slice(start, start + args.batch_size))
        poses, values = sampler.sample_batch_with_energies(jax.random.fold_in(key, start), batch, args.num_hypotheses)
        hypotheses.append(np.asarray(poses))
        energies.append(np.asarray(values))
    return np.concatenate(hypotheses), np.concatenate(energies)
