"""The package's shape: layers that only look down, no import cycles, inference without the training stack,
and one sampler default set for every entry point."""

import ast
import pathlib
import subprocess
import sys
import textwrap

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "posediff_jax"


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: pathlib.Path, modules) -> set:
    """Every posediff_jax module `path` imports, at module level or inside functions (lazy imports count).

    `from package import submodule` depends on the submodule; `from package import name` on the package."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("posediff_jax"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("posediff_jax"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return found


def module_graph() -> dict:
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {target for target in imports_of(path, modules) if target in modules and target != name}
            for name, path in modules.items()}


def find_cycle(graph: dict):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def test_no_import_cycles_between_files():
    cycle = find_cycle(module_graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_import_cycles_between_packages():
    packages = {}
    for node, targets in module_graph().items():
        source = package_of(node)
        packages.setdefault(source, set()).update(package_of(t) for t in targets if package_of(t) != source)
    cycle = find_cycle(packages)
    assert cycle is None, " -> ".join(cycle)


LOWER_LAYERS = ("posediff_jax.prior", "posediff_jax.model", "posediff_jax.diffusion", "posediff_jax.guidance",
                "posediff_jax.sampling", "posediff_jax.data", "posediff_jax.evaluation", "posediff_jax.detector")


@pytest.mark.parametrize("package", LOWER_LAYERS)
def test_nothing_below_training_imports_it(package):
    offenders = sorted(node for node, targets in module_graph().items()
                       if package_of(node) == package and any(package_of(t) == "posediff_jax.training"
                                                              for t in targets))
    assert not offenders, f"{package} must not import posediff_jax.training: {offenders}"


def test_inference_runs_without_training_orbax_or_optax(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from posediff_jax import cli
        import posediff_jax.sampling, posediff_jax.prior, posediff_jax.evaluation.evaluate
        np.savez({str(tmp_path / 'in.npz')!r}, keypoints_2d=np.random.default_rng(0).normal(500, 50, (17, 2)),
                 intrinsics=np.array([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]]))
        code = cli.main(["estimate", "--input", {str(tmp_path / 'in.npz')!r}, "--output",
                         {str(tmp_path / 'out.npz')!r}, "--num-hypotheses", "2", "--steps", "2", "--quiet",
                         "--no-plot"])
        assert code == 0, code
        loaded = sorted(name for name in sys.modules
                        if name.startswith(("posediff_jax.training", "orbax", "optax")))
        print("LOADED", loaded)
    """)
    env_result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                                env={"JAX_PLATFORMS": "cpu", "JAX_DISABLE_MOST_OPTIMIZATIONS": "1",
                                     "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert env_result.returncode == 0, env_result.stderr[-3000:]
    assert "LOADED []" in env_result.stdout, env_result.stdout


def test_every_entry_point_uses_the_same_sampler_defaults():
    from posediff_jax import cli
    from posediff_jax.commands import common
    from posediff_jax.evaluation.config_schema import default_eval_config
    from posediff_jax.sampling.config import SamplerConfig, from_section, sampler_config_for, sampler_section

    parser = cli.build_parser()
    heatmap = sampler_config_for("heatmap")
    assert heatmap == SamplerConfig(scale_schedule="auto")  # the one change the heatmap energy registers
    estimate = parser.parse_args(["estimate", "--input", "x.npz"])
    demo = parser.parse_args(["demo"])
    complete = parser.parse_args(["complete", "--input", "x.npz"])
    generate = parser.parse_args(["generate"])
    assert common.sampler_config(estimate, "heatmap") == heatmap
    assert common.sampler_config(demo, "heatmap") == heatmap
    assert from_section(default_eval_config().sampler) == heatmap
    repo = PACKAGE.parent
    from posediff_jax.config_files import load_config_file

    for name in ("eval_h36m.py", "eval_mpi_inf_3dhp.py", "eval_3dpw.py"):
        assert from_section(load_config_file(str(repo / "configs" / name)).sampler) == heatmap, name
    assert common.sampler_config(complete, "completion") == sampler_config_for("completion")
    assert from_section(load_config_file(str(repo / "configs" / "eval_h36m_completion.py")).sampler) == \
        sampler_config_for("completion")
    assert common.sampler_config(generate, "none") == sampler_config_for(None)
    assert from_section(sampler_section(None)) == sampler_config_for(None)
    # A flag changes only what it names.
    changed = common.sampler_config(parser.parse_args(["estimate", "--input", "x", "--num-steps", "20"]), "heatmap")
    assert changed == heatmap.replace(num_steps=20)


SOURCE_FOLDERS = ("posediff_jax", "configs", "tools")


def python_files():
    repo = PACKAGE.parent
    return [path for folder in SOURCE_FOLDERS for path in sorted((repo / folder).rglob("*.py"))]


def test_dependencies_through_their_public_apis_only():
    """Nothing imports a dependency's private modules (`jax._src`, `numpy._core`, ...) nor skips the interpreter's
    own exit: the next release of a dependency may change either without notice."""
    import re

    private_import = re.compile(r"^\s*(?:from|import)\s+(?!posediff_jax)[\w.]*\._\w+", re.MULTILINE)
    offenders = []
    for path in python_files():
        text = path.read_text()
        if private_import.search(text) or "jax._src" in text or "os._exit" in text or "atexit._" in text:
            offenders.append(str(path.relative_to(PACKAGE.parent)))
    assert offenders == []


def test_source_and_configs_log_no_dates_or_issue_numbers():
    """Source explains, docs record: figures and history live in docs/ with their command, not in code."""
    import re

    dated = re.compile(r"\b20\d\d-[01]\d-[0-3]\d\b|\b(?:issue|stop) #?\d+\b", re.IGNORECASE)
    offenders = [f"{path.relative_to(PACKAGE.parent)}: {match.group(0)}" for path in python_files()
                 for match in [dated.search(path.read_text())] if match]
    assert offenders == []
