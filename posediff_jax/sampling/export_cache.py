"""Serialised samplers on disk: a warm `posediff` start skips Python tracing and lowering (`jax.export`).

The persistent XLA cache (cli.py) stores compiled programs, but every process would still trace the sampler in
Python and lower it to StableHLO before XLA can look the program up, most of a one-frame `posediff estimate`'s
start-up. `ExportCache.call` stores the lowered sampler (`jax.export.export(...).serialize()`, ~90 KB) the first
time; later processes deserialise it and call it, and XLA's persistent cache serves the compiled program
(docs/decisions.md, "Start-up").

A stored program is valid only for exactly the computation it was exported from, so its file name is a hash of
everything that decides that computation without tracing it: this package's source and the jax / jaxlib
versions; the backend (platform, device kinds and count) and the x64 flag; what the caller vouches for
(`identity`: the energy and its options; the sampler settings; `Prior.identity`) and the call's static
arguments; the arguments' PyTree structure, shapes and dtypes (values are arguments, never baked in). Callers
that cannot state an identity (a prior built in memory, a callable scale schedule) do not use the cache.
Anything unreadable is exported again; a read-only or full disk only costs the speed-up. A folder keeps the
`MAX_STORED` programs used last.
"""

import hashlib
import json
import pathlib
from typing import Any, Callable, Optional

import jax
import numpy as np

SUFFIX = ".jaxexport"
# Programs kept per folder; storing one more removes the least recently used (every edit of the package names
# new programs, so a developer's folder would otherwise only grow).
MAX_STORED = 64
_SOURCE_FINGERPRINT: Optional[str] = None


def source_fingerprint() -> str:
    """sha256 over this package's `.py` files (path and bytes) and the jax / jaxlib versions (cached)."""
    global _SOURCE_FINGERPRINT
    if _SOURCE_FINGERPRINT is None:
        import jaxlib

        root = pathlib.Path(__file__).resolve().parents[1]
        digest = hashlib.sha256(f"jax {jax.__version__} jaxlib {jaxlib.__version__}".encode())
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
        _SOURCE_FINGERPRINT = digest.hexdigest()
    return _SOURCE_FINGERPRINT


def _backend_description() -> list:
    devices = jax.devices()
    return [jax.default_backend(), sorted({device.device_kind for device in devices}), len(devices),
            jax.local_device_count(), bool(jax.config.jax_enable_x64)]


def _dtype(leaf):
    return leaf.dtype if hasattr(leaf, "dtype") else np.asarray(leaf).dtype


class ExportCache:
    """A folder of exported programs (`directory`, made on first write). `identity` (JSON-able): what the caller
    vouches decides the traced computation besides the arguments, e.g. the energy's name and options."""

    def __init__(self, directory, identity: Any = None):
        self.directory = pathlib.Path(directory)
        self.identity = identity
        self.hits = 0
        self.misses = 0
        self._loaded = {}  # path -> program, so a loop over batches reads and deserialises each file once

    def key(self, name: str, arguments_treedef, leaves, static: Any = None) -> str:
        """Hex digest naming the program `name` for these arguments (module docstring)."""
        description = {
            "name": name,
            "source": source_fingerprint(),
            "backend": _backend_description(),
            "identity": self.identity,
            "static": static,
            "treedef": str(arguments_treedef),
            "leaves": [[list(np.shape(leaf)), str(_dtype(leaf))] for leaf in leaves],
        }
        return hashlib.sha256(json.dumps(description, sort_keys=True, default=repr).encode()).hexdigest()

    def path_for(self, key: str, name: str) -> pathlib.Path:
        return self.directory / f"{name}-{key[:40]}{SUFFIX}"

    def _load(self, path: pathlib.Path):
        if path in self._loaded:
            return self._loaded[path]
        try:
            exported = jax.export.deserialize(bytearray(path.read_bytes()))
            path.touch()  # recently used: kept by `_prune`
        except Exception:  # missing, truncated or written by another JAX: export again
            return None
        self._loaded[path] = exported
        return exported

    def _store(self, path: pathlib.Path, exported) -> None:
        from posediff_jax.io_utils import atomic_path

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as temporary:
                pathlib.Path(temporary).write_bytes(exported.serialize())
            self._prune()
        except (OSError, ImportError):  # read-only or full disk, or no serialiser: the call still works, uncached
            pass

    def _prune(self) -> None:
        """Removes the least recently used programs beyond `MAX_STORED` (another process may remove them too)."""
        def last_used(path):
            try:
                return path.stat().st_mtime
            except OSError:
                return 0.0

        stored = sorted(self.directory.glob(f"*{SUFFIX}"), key=last_used, reverse=True)
        for path in stored[MAX_STORED:]:
            path.unlink(missing_ok=True)

    def call(self, name: str, function: Callable, arguments: tuple, static: Any = None):
        """`function(*arguments)` (traceable; arguments are PyTrees of arrays, passed, never baked in) through the
        stored program `name`, exporting it on a miss; `static`: what else `function` closes over that `identity`
        does not cover (JSON-able)."""
        leaves, treedef = jax.tree.flatten(arguments)
        # The PyTree definition of a Prior names its apply function (an address), so the key uses the definition
        # of everything but objects that state an `identity` of their own (see `Prior.identity`).
        key = self.key(name, _stable_treedef(arguments), leaves, static)
        path = self.path_for(key, name)
        exported = self._load(path)
        if exported is None:
            self.misses += 1

            def flat_function(*flat):
                return function(*jax.tree.unflatten(treedef, flat))

            shapes = [jax.ShapeDtypeStruct(np.shape(leaf), _dtype(leaf)) for leaf in leaves]
            try:
                exported = jax.export.export(jax.jit(flat_function))(*shapes)
            except Exception:  # not exportable (a primitive or effect jax.export refuses): run it traced; an
                return function(*arguments)  # error of the function itself is raised again from there
            self._store(path, exported)
            self._loaded[path] = exported
        else:
            self.hits += 1
        return exported.call(*place_for(exported, leaves))


def call_stored(cache: Optional[ExportCache], name: str, function: Callable, arguments: tuple, static: Any = None):
    """`cache.call(name, function, arguments, static)`, or `function(*arguments)` when `cache` is None."""
    return function(*arguments) if cache is None else cache.call(name, function, arguments, static)


def _stable_treedef(arguments) -> str:
    """The arguments' PyTree structure as text, with each object that has a non-empty `identity` attribute
    (a `Prior`) replaced by its class name, identity and leaf structure."""

    def describe(node):
        identity = getattr(node, "identity", None)
        if not (isinstance(identity, str) and identity):
            return str(jax.tree.structure(node))
        paths = [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_flatten_with_path(node)[0]]
        return f"{type(node).__name__}({identity}, {paths})"

    return "; ".join(describe(argument) for argument in arguments)


def place_for(exported, leaves) -> list:
    """The arguments where a stored program expects them: replicated over a 'data' mesh of its first
    `nr_devices` devices for a program exported on several (a `shard_map` sampler splits them itself), on the
    default device for a one-device program (e.g. a summary of hypotheses a sharded sampler returned)."""
    if exported.nr_devices > 1:
        from posediff_jax.sampling.devices import sampling_mesh  # the mesh the samplers were exported on

        mesh = sampling_mesh(jax.local_devices()[:exported.nr_devices])
        return jax.device_put(list(leaves), jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
    if len(jax.local_devices()) > 1:
        device = jax.local_devices()[0]
        return [jax.device_put(leaf, device) if isinstance(leaf, jax.Array) and len(leaf.devices()) > 1 else leaf
                for leaf in leaves]
    return list(leaves)
