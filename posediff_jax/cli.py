"""The `posediff` command line: one subcommand per module in `posediff_jax.commands`.

Each command module exports `NAME`, `HELP`, `add_arguments(parser)` and `run(args) -> int`; one that sets
`ACCEPTS_CONFIG_OVERRIDES = True` receives ml_collections-style `--config.key=value` arguments in `args.overrides`. User errors
(`PoseDiffError`) print one line to stderr and exit with code 2; nothing is half-written (commands write to a
temporary file and rename; SIGTERM removes it too, then exits with code 143).
"""

import argparse
import contextlib
import gc
import importlib
import os
import signal
import sys
import warnings
from typing import NoReturn

from posediff_jax import __version__
from posediff_jax.validation import PoseDiffError

COMMAND_MODULES = ("demo", "train", "estimate", "complete", "generate", "evaluate")

# Persistent XLA compilation cache: a second `posediff` run with the same shapes loads the compiled sampler
# from disk. POSEDIFF_JAX_CACHE_DIR overrides the directory ("" / "off" / "0" / "none" disable it); an explicit
# JAX_COMPILATION_CACHE_DIR is honoured.
CACHE_DIR_ENV = "POSEDIFF_JAX_CACHE_DIR"
# Serialised samplers (jax.export, sampling/export_cache.py) inside the compilation cache folder; a warm start
# skips tracing. POSEDIFF_JAX_EXPORT_CACHE=0 turns just this off (the compilation cache stays).
EXPORT_SUBDIRECTORY = "sampler_exports"
EXPORT_CACHE_ENV = "POSEDIFF_JAX_EXPORT_CACHE"
CACHE_MIN_COMPILE_SECONDS = 0.0  # cache every compiled computation (the sampler's jit and the small helpers)


def compilation_cache_dir(environ=None):
    """`$POSEDIFF_JAX_CACHE_DIR` (empty, 'off', '0', 'none' or 'false': None), else `$XDG_CACHE_HOME/posediff_jax/xla`
    (default `~/.cache/posediff_jax/xla`)."""
    environ = os.environ if environ is None else environ
    if CACHE_DIR_ENV in environ:
        value = environ[CACHE_DIR_ENV].strip()
        return None if value.lower() in ("", "off", "0", "none", "false") else os.path.expanduser(value)
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "posediff_jax", "xla")


def enable_compilation_cache(environ=None):
    """Points JAX's persistent compilation cache at `compilation_cache_dir()` (a cache the user configured stays);
    returns the directory, or None when off or the folder cannot be made (then every run compiles)."""
    import jax

    if jax.config.jax_compilation_cache_dir:
        return jax.config.jax_compilation_cache_dir
    directory = compilation_cache_dir(environ)
    if directory is None:
        return None
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    return directory


def export_cache_dir(compilation_directory, environ=None):
    """Where the CLI stores serialised samplers: `EXPORT_SUBDIRECTORY` of the compilation cache folder, or None
    when that cache is off or `$POSEDIFF_JAX_EXPORT_CACHE` is 0 / off / false / no."""
    if not compilation_directory or switched_off(EXPORT_CACHE_ENV, environ):
        return None
    return os.path.join(compilation_directory, EXPORT_SUBDIRECTORY)


def switched_off(name: str, environ=None) -> bool:
    """True when the on/off environment variable `name` says 0 / off / false / no (unset: on)."""
    environ = os.environ if environ is None else environ
    return environ.get(name, "1").strip().lower() in ("0", "off", "false", "no")


# XLA:CPU settings the CLI adds to XLA_FLAGS (before JAX creates its backend) on the jaxlib versions they were
# measured on: jaxlib 0.10 hands row reductions (LayerNorm statistics, gradient norms) to YNNPACK fusions that
# are slower than XLA's own loops for the sampler's small arrays (docs/decisions.md, "XLA:CPU flags"). An unknown
# flag aborts XLA, so other versions get nothing; a user's own setting of the same flag wins, and
# POSEDIFF_JAX_XLA_DEFAULTS=0 turns this off.
XLA_DEFAULTS_ENV = "POSEDIFF_JAX_XLA_DEFAULTS"
XLA_CPU_DEFAULT_FLAGS = {"0.10": ("--xla_cpu_experimental_ynn_fusion_type=-reduce",)}


def xla_cpu_default_flags(jaxlib_version: str, environ=None) -> tuple:
    """The flags `apply_xla_cpu_defaults` would add for this jaxlib version and environment."""
    environ = os.environ if environ is None else environ
    if switched_off(XLA_DEFAULTS_ENV, environ):
        return ()
    series = ".".join(jaxlib_version.split(".")[:2])
    present = environ.get("XLA_FLAGS", "")
    return tuple(flag for flag in XLA_CPU_DEFAULT_FLAGS.get(series, ())
                 if flag.split("=", 1)[0] not in present)


# One single-threaded XLA:CPU device per core for the commands that sample (`SAMPLING_COMMANDS`): the sampler's
# operations are small, so one device splitting each over every core spends much of a step synchronising, while
# a device per core runs its own share of the hypotheses or frames (sampling/devices.py; docs/decisions.md, "CPU
# devices"). The count is the cores this process may use, at most `MAX_CPU_DEVICES`; `$POSEDIFF_JAX_CPU_DEVICES`
# sets it (1: XLA's default; more than the usable cores is refused, see `cpu_device_flags`), and a device count in
# XLA_FLAGS or JAX_NUM_CPU_DEVICES wins. Only the CPU backend is affected. `posediff train` keeps XLA's default
# (its sharded step is faster on one multi-threaded device).
CPU_DEVICES_ENV = "POSEDIFF_JAX_CPU_DEVICES"
MAX_CPU_DEVICES = 8
SAMPLING_COMMANDS = frozenset({"estimate", "complete", "generate", "demo", "evaluate"})


def usable_cpu_count() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_device_flags(environ=None, cpu_count=None) -> tuple:
    """The XLA flags for one single-threaded CPU device per core (see `CPU_DEVICES_ENV`), or () where they do
    not apply: one core, `POSEDIFF_JAX_CPU_DEVICES=1`, XLA defaults switched off, or a device count set by the user."""
    environ = os.environ if environ is None else environ
    if switched_off(XLA_DEFAULTS_ENV, environ):
        return ()
    value = environ.get(CPU_DEVICES_ENV, "").strip()
    if value and (not value.isdigit() or int(value) < 1):
        raise PoseDiffError(f"${CPU_DEVICES_ENV}: expected a whole number >= 1, got {value!r}")
    cores = usable_cpu_count() if cpu_count is None else int(cpu_count)
    # Refused rather than capped: the user asked for this count, so running another would be a silent surprise,
    # while the refusal costs nothing (it comes before any work). More devices than cores share them (no faster),
    # and far more stall in XLA's cross-device rendezvous until it aborts the process.
    if value and int(value) > cores:
        raise PoseDiffError(f"${CPU_DEVICES_ENV}={value}: more devices than the {cores} cores this process may use; "
                            f"set 1 to {cores}, or unset it for one per core")
    count = int(value) if value else min(cores, MAX_CPU_DEVICES)
    present = environ.get("XLA_FLAGS", "")
    if count < 2 or "xla_force_host_platform_device_count" in present or environ.get("JAX_NUM_CPU_DEVICES"):
        return ()
    flags = [f"--xla_force_host_platform_device_count={count}"]
    if "xla_cpu_multi_thread_eigen" not in present:
        flags.append("--xla_cpu_multi_thread_eigen=false")
    return tuple(flags)


def apply_xla_cpu_defaults(environ=None, one_device_per_core: bool = False) -> tuple:
    """Appends `xla_cpu_default_flags` (and with `one_device_per_core`, `cpu_device_flags`) to `XLA_FLAGS`;
    returns what was added. Call before the first JAX computation (XLA reads the variable when it creates the
    backend)."""
    import jaxlib

    environ = os.environ if environ is None else environ
    added = xla_cpu_default_flags(jaxlib.__version__, environ)
    if one_device_per_core:
        added = added + cpu_device_flags(environ)
    if added:
        environ["XLA_FLAGS"] = " ".join(filter(None, [environ.get("XLA_FLAGS", "").strip(), *added]))
    return added


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="posediff",
                                     description="Probabilistic 3D human pose estimation with guided diffusion (JAX).")
    parser.add_argument("--version", action="version", version=f"posediff_jax {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Each command's own parser, so that `main` reports an unknown flag with that command's usage.
    parser.command_parsers = {}
    for module in (importlib.import_module(f"posediff_jax.commands.{name}") for name in COMMAND_MODULES):
        sub = subparsers.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        parser.command_parsers[module.NAME] = sub
        sub.set_defaults(_run=module.run, _accepts_overrides=getattr(module, "ACCEPTS_CONFIG_OVERRIDES", False))
    return parser


@contextlib.contextmanager
def one_line_warnings(prefix: str):
    """The project's own warnings (a checkpoint set aside, a dataset entry skipped, a damaged evaluation batch
    recomputed: the `UserWarning` classes defined in `posediff_jax`, matched by module so that this imports none of
    them) as one `PREFIX: warning: ...` line each (`prefix`: e.g. 'posediff train'); other warnings keep Python's
    format."""
    from posediff_jax.prior.workdir import CheckpointWarning

    def own(category) -> bool:
        return issubclass(category, UserWarning) and category.__module__.startswith("posediff_jax.")

    default_show = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if own(category):
            from tqdm import tqdm

            tqdm.write(f"{prefix}: warning: {message}", file=sys.stderr)  # above a running progress bar, not in it
        else:
            default_show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", CheckpointWarning)
        warnings.showwarning = show
        yield


def run_with_one_line_messages(prefix: str, function) -> int:
    """`function()`'s exit code, with the project's warnings (`one_line_warnings`), a `PoseDiffError` and a full
    disk as one `PREFIX: warning / error: ...` line each (an error: exit code 2). The `posediff` commands and the
    tools (`tools/export_prior.py`, `tools/make_pose_file.py`) report through it."""
    from posediff_jax.io_utils import DISK_FULL_ERRNOS

    try:
        with one_line_warnings(prefix):
            return int(function() or 0)
    except PoseDiffError as error:
        print(f"{prefix}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the atomic writes name their target and leave no temporary file behind
        if error.errno not in DISK_FULL_ERRNOS:
            raise
        where = f" writing {error.filename}" if error.filename else ""
        print(f"{prefix}: error: {os.strerror(error.errno).lower()}{where}; free some space and run the command "
              "again", file=sys.stderr)
        return 2


def backend_failure() -> str | None:
    """After a `RuntimeError` / `AssertionError`: the one-line reason when `$JAX_PLATFORMS` names a backend JAX
    cannot start here (JAX says only a bare `AssertionError` or a long `RuntimeError`), else None. Asked only
    after a failure: starting a backend up front would come before `jax.distributed.initialize` in training."""
    platforms = os.environ.get("JAX_PLATFORMS", "").strip()
    if not platforms or "jax" not in sys.modules:
        return None
    import jax

    try:
        jax.devices()
        return None
    except (RuntimeError, AssertionError):
        jax.config.update("jax_platforms", "")  # let JAX choose, only to list what is there
    try:
        available = ", ".join(sorted({device.platform for device in jax.devices()}))
    except (RuntimeError, AssertionError):
        available = "none"
    return f"JAX_PLATFORMS={platforms}: no such backend here (available: {available}); unset it or name one of those"


class Terminated(BaseException):
    """SIGTERM as an exception, so that `finally` blocks (the atomic writes' cleanup) run before the exit; not an
    `Exception`, which handlers for ordinary errors would catch."""


@contextlib.contextmanager
def sigterm_raises():
    """While the block runs (in the main thread), SIGTERM raises `Terminated`; a second one during the cleanup is
    ignored. `posediff train` installs its own handler inside (it saves a checkpoint first)."""
    def handle(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handle)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)  # None: set outside Python


def main(argv=None, compilation_cache=None) -> int:
    """Runs one command; returns the exit code. `compilation_cache`: use the persistent XLA cache (default:
    only when started as a program, `argv is None`, so in-process callers such as tests leave no cache)."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        if not getattr(args, "_accepts_overrides", False) or any(not e.startswith("--config.") for e in extras):
            command_parser = getattr(parser, "command_parsers", {}).get(getattr(args, "command", None), parser)
            command_parser.error(f"unrecognized arguments: {' '.join(extras)}")
        args.overrides = list(getattr(args, "overrides", None) or []) + extras
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    use_cache = (argv is None) if compilation_cache is None else bool(compilation_cache)
    args.export_cache_dir = None
    if argv is None:  # a program: the modules imported so far (JAX, the command) live until its exit
        gc.freeze()  # so no collection, the interpreter's last ones included, traverses their objects again

    def run():
        if use_cache:  # started as a program: this process's backend is ours to configure
            apply_xla_cpu_defaults(one_device_per_core=args.command in SAMPLING_COMMANDS)
            directory = enable_compilation_cache()
            # Lowered samplers (sampling/export_cache.py) beside the compiled programs: a warm start skips tracing.
            args.export_cache_dir = export_cache_dir(directory)
        return args._run(args)

    try:
        with sigterm_raises():
            return run_with_one_line_messages(f"posediff {args.command}", run)
    except MemoryError:  # a host allocation the commands' own size checks did not foresee
        print(f"posediff {args.command}: error: out of memory; ask for fewer hypotheses (--num-hypotheses) or "
              "fewer frames per run", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"posediff {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"posediff {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except (RuntimeError, AssertionError):
        reason = backend_failure()
        if reason is None:
            raise
        print(f"posediff {args.command}: error: {reason}", file=sys.stderr)
        return 2


def run_program() -> NoReturn:
    """The `posediff` program (console script and `python -m posediff_jax`)."""
    sys.exit(main())


if __name__ == "__main__":
    run_program()
