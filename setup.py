"""posediff_jax: probabilistic 3D human pose estimation with guided diffusion in JAX."""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "posediff_jax" / "__init__.py").read_text()).group(1)

INSTALL_REQUIRES = [
    "jax>=0.7",
    "flax>=0.11",
    "optax>=0.2.4",
    "orbax-checkpoint>=0.11",
    "numpy>=1.26",
    "ml_dtypes>=0.5,!=0.7.0",  # 0.7.0 takes ~0.5 s to import, a large share of a CLI start (docs/decisions.md)
    "flatbuffers>=24.3",  # jax.export's serialisation: the CLI stores lowered samplers (sampling/export_cache.py)
    "ml_collections>=1.0",
    "tensorflow-datasets>=4.9.7",
    "array_record>=0.7",
    "importlib_resources>=6.0",
    "matplotlib>=3.8",
    "tqdm>=4.66",
    "pillow>=10.0",
]

setup(
    name="posediff_jax",
    version=VERSION,
    description="Probabilistic 3D human pose estimation with guided diffusion (JAX, Flax, Orbax)",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["posediff_jax", "posediff_jax.*"]),
    package_data={"posediff_jax": ["assets/**/*"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "detector": ["ai-edge-litert>=1.2"],
        "test": ["pytest>=8.0", "pytest-xdist>=3.5", "hypothesis>=6.100"],  # pytest.ini: one worker per core
        "bench": ["torch>=2.3"],  # tools/torch_baseline.py (bench_sampler.py --baseline torch); not needed by tests
    },
    entry_points={"console_scripts": ["posediff=posediff_jax.cli:run_program"]},
    license="Apache-2.0",
)
