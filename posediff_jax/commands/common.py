"""What the sampling commands (estimate, complete, generate, demo) share: options, checks, prior, safe writes.

Sampler flags are derived from `SamplerConfig` (`sampling/config.py`): one default set for every entry point.
Output paths are checked for writability before any work; outputs are written all-or-nothing.
"""

import os
import pathlib
import sys
import tempfile
import zipfile

import numpy as np

from posediff_jax.random_keys import MAX_SEED, seed_key
from posediff_jax.validation import PoseDiffError

FEW_STEPS_WARNING = 10


def add_prior_argument(parser) -> None:
    parser.add_argument("--prior", "--checkpoint", dest="prior", default="auto", metavar="PRIOR",
                        help="'auto' (the shipped prior for the evidence: 'wide_proportions' for exact 2D, "
                             "'default' otherwise), 'default' / 'wide_proportions' (the shipped priors), a prior "
                             "folder (export or training workdir), 'gaussian' (analytic baseline) or 'tiny' "
                             "(random network, plumbing only)")


def add_run_arguments(parser, default_hypotheses: int, output_help: str) -> None:
    """--num-hypotheses, --seed, --output, --no-plot, --quiet, --prior and the sampler flags' group follow."""
    parser.add_argument("--num-hypotheses", type=int, default=default_hypotheses, help="hypotheses per input (m)")
    parser.add_argument("--seed", type=int, default=0, help=f"random seed, 0..{MAX_SEED} (deterministic per seed)")
    parser.add_argument("--output", type=pathlib.Path, default=None, help=output_help)
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG beside the .npz")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_prior_argument(parser)


def add_sampling_arguments(parser, energy: str, default_hypotheses: int, output_help: str) -> None:
    from posediff_jax.sampling.config import add_sampler_arguments

    add_run_arguments(parser, default_hypotheses, output_help)
    add_sampler_arguments(parser, energy)


def check_run_arguments(args, default_output: pathlib.Path | str, inputs=()):
    """Checks --num-hypotheses, --seed and --output before any work: the .npz (and, unless --no-plot, the PNG beside
    it) must be writable files and none of the command's `inputs` ((flag, path or None) pairs), which the atomic
    rename would replace."""
    if args.num_hypotheses < 1:
        raise PoseDiffError(f"--num-hypotheses: expected >= 1, got {args.num_hypotheses}")
    check_seed(args.seed)
    if args.output is None:
        args.output = pathlib.Path(default_output)
    args.output = pathlib.Path(args.output)
    if args.output.suffix != ".npz":
        raise PoseDiffError(f"--output: expected a .npz path, got {str(args.output)!r}")
    check_writable(args.output, "--output")
    outputs = [(args.output, "--output")]
    if not getattr(args, "no_plot", False):
        png = args.output.with_suffix(".png")
        what = "--output's plot PNG (written beside the .npz; --no-plot skips it)"
        if png.is_dir():  # same folder as the .npz, checked above; only the name can be taken
            raise PoseDiffError(f"{what}: {str(png)!r} is a folder; expected a file path")
        outputs.append((png, what))
    check_outputs_are_not_inputs(outputs, inputs)


def same_file(a, b) -> bool:
    """Whether the existing paths `a` and `b` name one file (links and `..` resolved); False if either is missing."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_outputs_are_not_inputs(outputs, inputs) -> None:
    """Raises `PoseDiffError` when an output path (`(path, what)` pairs) is the same file as an input
    (`(flag, path or None)` pairs): writing it would destroy the user's data."""
    for flag, source in inputs:
        if not source:
            continue
        for path, what in outputs:
            if same_file(path, source):
                raise PoseDiffError(f"{what}: {str(path)!r} is the {flag} file; writing there would replace it, "
                                    "choose another --output")


def check_seed(seed: int) -> int:
    if not 0 <= int(seed) <= MAX_SEED:
        raise PoseDiffError(f"--seed: expected 0..{MAX_SEED}, got {seed}")
    return int(seed)


def check_writable(path, what: str) -> pathlib.Path:
    """Raises `PoseDiffError` unless a file can be created at `path` (tries one in its folder, then removes it)."""
    path = pathlib.Path(path)
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    if path.is_dir():
        raise PoseDiffError(f"{what}: {str(path)!r} is a folder; expected a file path")
    if not folder.is_dir():
        in_the_way = next((part for part in (folder, *folder.parents) if part.exists()), folder)
        if in_the_way.exists() and not in_the_way.is_dir():  # a file where the path needs a folder
            raise PoseDiffError(f"{what}: {str(in_the_way)!r} is a file, not a folder, so {str(path)!r} cannot be "
                                "written")
        raise PoseDiffError(f"{what}: folder {str(folder)!r} does not exist")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise PoseDiffError(f"{what}: cannot write in {str(folder)!r} ({error.strerror or error})") from None
    return path


def sampler_config(args, energy: str):
    """The SamplerConfig of the parsed flags for `energy`; warns when the step count is too small to be useful."""
    from posediff_jax.sampling.config import sampler_config_from_args

    config = sampler_config_from_args(args, energy)
    if config.num_steps < FEW_STEPS_WARNING:
        print(f"warning: --num-steps {config.num_steps} is below {FEW_STEPS_WARNING}; expect poses far from the "
              "evidence (the default is 50)", file=sys.stderr)
    return config


def prior_label(args, exact_evidence: bool = False) -> str:
    """What `--prior` names for this evidence, for messages: 'auto' shows what it resolved to."""
    from posediff_jax.prior.loading import prior_name

    name = prior_name(args.prior, exact_evidence)
    return f"{name} (auto)" if args.prior == "auto" else name


def load_prior(args, exact_evidence: bool = False):
    """The prior `--prior` names ('auto' reads `exact_evidence`). Its network is built and checked when sampling is
    first traced, so a warm start that calls a stored sampler never imports Flax."""
    from posediff_jax.prior import resolve_prior

    return resolve_prior(args.prior, build_network=False, exact_evidence=exact_evidence)


def export_cache(args, energy_name: str, **energy_options):
    """The `ExportCache` of stored samplers for energy `energy_name` built with `energy_options`, or None when the
    CLI runs without its caches (`args.export_cache_dir`, set by cli.main; POSEDIFF_JAX_CACHE_DIR=off)."""
    directory = getattr(args, "export_cache_dir", None)
    if not directory:
        return None
    from posediff_jax.sampling.export_cache import ExportCache

    return ExportCache(directory, identity={"energy": energy_name, "options": energy_options})


def load_npz(path, what: str = "--input", accepted=None) -> dict:
    """Arrays of an .npz as a dict (clear error for a missing, unreadable, damaged or pickled file). With `accepted`
    (the names the command reads) any other name is refused, naming the nearest accepted one: a misspelt name
    (`heatmap` for `heatmaps`) would otherwise drop its evidence in silence."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise PoseDiffError(f"{what}: {str(path)!r} is a folder; expected an .npz file")
    if path.exists() and not path.is_file():
        raise PoseDiffError(f"{what}: {str(path)!r} is not a regular file (a FIFO, socket or device); expected an .npz")
    if not path.is_file():
        raise PoseDiffError(f"{what}: file {str(path)!r} not found")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as error:  # no read permission, an I/O error
        raise PoseDiffError(f"{what}: {str(path)!r} cannot be read ({error.strerror or error})") from None
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        raise PoseDiffError(f"{what}: {str(path)!r} is not a valid .npz file (not a zip archive of arrays)")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise PoseDiffError(f"{what}: {str(path)!r} is a single .npy array, not an .npz archive")
            arrays = {name: data[name] for name in data.files}
    except PoseDiffError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise PoseDiffError(f"{what}: {str(path)!r} holds pickled objects; only numeric arrays are read") from None
        raise PoseDiffError(f"{what}: {str(path)!r} is not a valid .npz file") from None
    except (OSError, EOFError, zipfile.BadZipFile):
        raise PoseDiffError(f"{what}: {str(path)!r} is not a valid .npz file") from None
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):  # numpy hands back the raw bytes of a member that is no .npy array
            raise PoseDiffError(f"{what}: {str(path)!r}: member {name!r} is not a numpy array (a damaged file?)")
    unknown = sorted(set(arrays) - set(accepted or arrays))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], accepted, 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PoseDiffError(f"{what}: {str(path)!r} holds {unknown[0]!r}{hint}, an array this command does not read; "
                            f"expected only {sorted(accepted)}")
    return arrays


# Bytes one hypothesis takes in the results the commands keep in memory: 17 x 3 float32 joints + a float32 energy.
RESULT_BYTES_PER_HYPOTHESIS = (17 * 3 + 1) * 4


def physical_memory_bytes() -> int | None:
    """This machine's memory in bytes, or None where the OS does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def check_result_memory(frames: int, num_hypotheses: int, memory_bytes: int | None = None) -> None:
    """Raises `PoseDiffError` before any sampling when `frames x num_hypotheses` results alone would not fit in this
    machine's memory (else numpy's allocation fails with a traceback, perhaps after the work)."""
    memory_bytes = physical_memory_bytes() if memory_bytes is None else memory_bytes
    needed = int(frames) * int(num_hypotheses) * RESULT_BYTES_PER_HYPOTHESIS
    if memory_bytes and needed > memory_bytes:
        raise PoseDiffError(
            f"--num-hypotheses {num_hypotheses}: {frames} frame(s) x {num_hypotheses} hypotheses need "
            f"{_format_bytes(needed)} for the results alone, more than this machine's {_format_bytes(memory_bytes)} "
            "of memory; ask for fewer hypotheses (or fewer frames per run)"
        )


def _format_bytes(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if count < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000


# Why sampling can end in NaN / inf, per command (the message names the likely causes for that evidence).
NON_FINITE_CAUSES = {
    "estimate": "a prior with non-finite weights, a --guidance-scale too large, or intrinsics / keypoints that are "
                "not in pixels (focal length and principal point of the image the keypoints are in)",
    "complete": "a prior with non-finite weights, a --guidance-scale too large, or known joints not in millimetres",
    "generate": "a prior with non-finite weights, a --guidance-scale too large, or bone lengths not in millimetres",
    "generate_unguided": "a prior with non-finite weights (or one trained on other units than millimetres)",
}


# A root-relative joint farther than this from the root (mm; 100 m) is not a pose but a diverged sampler (a guidance
# step of 1e30 gives joints at 1e30 mm, which are finite in float32 and break the plot).
DIVERGED_MM = 1e5


def check_finite_results(command: str, hypotheses, energies=None, derived=None, placed=None,
                         physical: bool = True) -> None:
    """Raises `PoseDiffError` (nothing is written) when sampling produced NaN, infinite or diverged values:
    `hypotheses` `[..., 17, 3]` mm (beyond `DIVERGED_MM`: diverged) and `energies` per hypothesis, then `derived`
    ({name: array}, e.g. the root). A NaN output with exit code 0 would pass silently into whatever reads it.

    Then, if `physical` (not the tiny prior's random network), plausibility. `placed` (poses `[F, 17, 3]`, roots
    `[F, 3]` camera-frame mm, joint weights `[F, 17]`) is refused unless each root is `checks.MIN_ROOT_DEPTH_MM` deep
    (as a given root must be) and each joint seen (weight > 0) in front of the lens: only there is a person imaged.
    A skeleton (the 16 bones' total: single bones of usable hypotheses vary widely) over `skeleton.SKELETON_FACTOR`
    from a person's is warned, not refused: other hypotheses may be usable ('generate': the user's lengths rule)."""
    hypotheses = np.asarray(hypotheses)
    with np.errstate(invalid="ignore"):
        good = np.isfinite(hypotheses) & (np.abs(hypotheses) <= DIVERGED_MM)
    bad = ~good.reshape(*hypotheses.shape[:-2], -1).all(-1)
    if energies is not None:
        bad |= ~np.isfinite(np.asarray(energies))
    causes = NON_FINITE_CAUSES.get(command, NON_FINITE_CAUSES["estimate"])
    if bad.any():
        raise PoseDiffError(f"sampling diverged: {int(bad.sum())} of {bad.size} hypotheses hold NaN, infinite or "
                            f"huge (> {DIVERGED_MM / 1000:.0f} m) values, nothing written; likely causes: {causes}")
    for name, values in (derived or {}).items():
        values = np.asarray(values)
        if not np.all(np.isfinite(values)):
            count = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
            raise PoseDiffError(f"{name}: {count} NaN or infinite value(s) (the hypotheses are finite), nothing "
                                f"written; likely causes: {causes}")
    if not physical:
        return
    if placed is not None:
        from posediff_jax.guidance.checks import MIN_ROOT_DEPTH_MM

        poses, root, weights = (np.asarray(value, np.float64) for value in placed)
        depth = poses[..., 2] + root[..., None, 2]  # [F, 17] mm along the optical axis
        behind = (root[:, 2] < MIN_ROOT_DEPTH_MM) | np.any((depth <= 0) & (weights > 0), axis=-1)
        if behind.any():
            frame = int(np.argmax(behind))
            raise PoseDiffError(f"implausible result: {int(behind.sum())} of {len(behind)} frame(s) put the person at "
                                f"or behind the camera (frame {frame}: root depth {root[frame, 2]:.0f} mm, nearest "
                                f"joint {depth[frame].min():.0f} mm), nothing written; the 2D evidence does not fit "
                                "its camera (an upside-down photo? a wrong principal point or focal length?)")
    if command != "generate":
        from posediff_jax import skeleton

        total = skeleton.bone_lengths(np.asarray(hypotheses, np.float32)).sum(-1)
        odd = np.abs(np.log(np.maximum(total, 1e-6) / skeleton.TYPICAL_SKELETON_MM)) > np.log(skeleton.SKELETON_FACTOR)
        if odd.any():
            print(f"warning: {int(odd.sum())} of {odd.size} hypotheses have a skeleton (the 16 bones' total) of "
                  f"{total[odd].min():.0f}-{total[odd].max():.0f} mm, over {skeleton.SKELETON_FACTOR:g}x from a "
                  f"person's ~{skeleton.TYPICAL_SKELETON_MM:.0f} mm: check the prior and the sampler flags",
                  file=sys.stderr)


def sampler_record(config) -> np.ndarray:
    """The sampler settings a command ran with, as a JSON string array for its .npz (`"sampler"`; `'auto'` values
    resolved as they ran): `json.loads(str(npz["sampler"]))`."""
    import dataclasses
    import json

    from posediff_jax.sampling.config import scale_schedule_name

    settings = dict(dataclasses.asdict(config), scale_schedule=scale_schedule_name(config))
    return np.asarray(json.dumps(settings, sort_keys=True))


def write_outputs(npz_path, arrays: dict, plot_fn=None):
    """Writes the .npz (and, with `plot_fn(png_path)`, the PNG beside it) all-or-nothing, with the user's umask:
    both go to temporary files first and are renamed into place only when both succeeded."""
    from posediff_jax.io_utils import atomic_path

    npz_path = pathlib.Path(npz_path)
    png_path = npz_path.with_suffix(".png")
    with atomic_path(npz_path) as npz_temporary:
        with open(npz_temporary, "wb") as file:
            np.savez(file, **{name: np.asarray(value) for name, value in arrays.items()})
        if plot_fn is not None:
            with atomic_path(png_path) as png_temporary:
                plot_fn(str(png_temporary))
    return npz_path, (png_path if plot_fn is not None else None)


def progress_bar(total: int, quiet: bool, description: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, disable=quiet, desc=description, unit=unit, file=sys.stderr, dynamic_ncols=True)


def sample_in_batches(sampler, evidence, args, description: str, frames_per_call: int = 16):
    """`([frames, m, 17, 3], [frames, m])` hypotheses and energies, `frames_per_call` frames and, with many
    hypotheses, `4 * chunk_size` hypotheses per call under a progress bar; hypothesis i of frame f always uses
    `fold_in(fold_in(seed_key(seed), f), i)`, so results do not depend on the grouping."""
    from posediff_jax.guidance import evidence as evidence_lib

    frames = evidence_lib.num_frames(evidence)
    key = seed_key(args.seed)
    num_hypotheses = int(args.num_hypotheses)
    group = max(num_hypotheses if num_hypotheses <= 1024 else 4 * sampler.config.chunk_size, 1)
    check_result_memory(frames, num_hypotheses)
    try:
        hypotheses = np.zeros((frames, num_hypotheses, 17, 3), np.float32)
        energies = np.zeros((frames, num_hypotheses), np.float32)
    except MemoryError:
        raise PoseDiffError(f"--num-hypotheses {num_hypotheses}: not enough memory for {frames} frame(s) x "
                            f"{num_hypotheses} hypotheses; ask for fewer") from None
    with progress_bar(frames * num_hypotheses, args.quiet, description, "hyp") as bar:
        for start in range(0, frames, frames_per_call):
            stop = min(start + frames_per_call, frames)
            batch = evidence_lib.index_evidence(evidence, slice(start, stop))
            for first in range(0, num_hypotheses, group):
                count = min(group, num_hypotheses - first)
                poses, values = sampler.sample_batch(key, batch, count, first_frame=start, first_hypothesis=first,
                                                     with_energies=True)
                hypotheses[start:stop, first:first + count] = np.asarray(poses)
                energies[start:stop, first:first + count] = np.asarray(values)
                bar.update((stop - start) * count)
    return hypotheses, energies
