"""One sampler surface: `SamplerConfig` is the `config.sampler` section, the CLI flags and the library options.

Every entry point builds its settings with `sampler_config_for(energy_name, **overrides)`: the defaults below,
then the settings the energy registers (`guidance/registry.py`: completion's stiff quadratic needs a small,
preconditioned, loosely clipped step), then what the user set. The CLI flags (`add_sampler_arguments`) and the
ml_collections section (`sampler_section`) are derived from the dataclass fields, so a default lives in one place
and `SamplerConfig.validate` is the one check of every setting. How each default was chosen:
docs/decisions.md ("Sampler defaults").
"""

import dataclasses
from typing import Any, Callable, Mapping, Optional, Union

import numpy as np

from posediff_jax.validation import PoseDiffError

GUIDANCE_MODES = ("dps", "x0", "none")
# The network's matrix products: float32, or bfloat16 operands with float32 sums (`model/precision.py`).
MATMUL_DTYPES = ("float32", "bfloat16")
SCALE_SCHEDULES = ("constant", "decreasing", "increasing", "alpha_bar", "auto")
# 'auto' (the heatmap energy's default): 'constant' when the caller states the 2D evidence is exact (heatmaps
# rendered from ground-truth projections, keypoints with no detector error), else 'decreasing'.
AUTO_SCHEDULES = {True: "constant", False: "decreasing"}
MIN_STEPS = 2  # one step jumps from pure noise to t = 0: no sampler can give a pose that way


def _option(default, help_text: str, choices=None, flag_type=None):
    return dataclasses.field(default=default, metadata={"help": help_text, "choices": choices, "type": flag_type})


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """Settings of a guided sampler (module docstring)."""

    method: str = _option("ddim", "reverse update rule (registered in sampling/updates.py)")
    num_steps: int = _option(50, "reverse diffusion steps (noise levels)")
    guidance: str = _option("dps", "dps: gradient through the network; x0: on the x0 estimate only; none",
                            GUIDANCE_MODES)
    guidance_scale: float = _option(0.1, "guidance step in model space (0 = unguided)")
    scale_schedule: Union[str, Callable] = _option(
        "constant", "guidance step over time (auto: constant for exact 2D, decreasing for a detector's)",
        SCALE_SCHEDULES)
    max_grad_norm: float = _option(5.0, "per-hypothesis clip of the guidance gradient (model space)")
    precondition: bool = _option(False, "equalise the guidance step in mm over coordinates", None, "bool")
    eta: float = _option(0.0, "DDIM stochasticity (0 deterministic, 1 ~ DDPM)")
    guidance_repeats: int = _option(3, "guided updates per noise level (re-noise back and guide again)")
    final_refinement_steps: int = _option(0, "extra guided updates at the last noise level")
    evidence_dropout: float = _option(
        0.0, "probability that a hypothesis ignores a joint's 2D evidence, drawn once per hypothesis and joint")
    chunk_size: int = _option(256, "hypotheses per vectorised chunk (memory bound)")
    matmul_dtype: str = _option(
        "float32", "the network's matrix products: float32, or bfloat16 operands with float32 sums (faster where the "
        "hardware has bfloat16 matrix units: AMX CPUs, GPUs, TPUs)", MATMUL_DTYPES)

    def validate(self) -> "SamplerConfig":
        from posediff_jax.sampling.updates import registered_samplers

        if self.method not in registered_samplers():
            raise PoseDiffError(f"sampler method: expected one of {registered_samplers()}, got {self.method!r}")
        if self.guidance not in GUIDANCE_MODES:
            raise PoseDiffError(f"guidance: expected one of {GUIDANCE_MODES}, got {self.guidance!r}")
        if not callable(self.scale_schedule) and self.scale_schedule not in SCALE_SCHEDULES:
            raise PoseDiffError(f"scale_schedule: expected one of {SCALE_SCHEDULES}, got {self.scale_schedule!r}")
        if int(self.num_steps) < MIN_STEPS:
            raise PoseDiffError(f"num_steps: expected >= {MIN_STEPS}, got {self.num_steps} (one step jumps from pure "
                                "noise straight to a pose; use 25 or more for usable results)")
        for name in ("guidance_scale", "max_grad_norm", "eta"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise PoseDiffError(f"{name}: expected a finite value >= 0, got {value}")
        if self.max_grad_norm == 0:  # clips every gradient to zero; guidance_scale 0 or guidance 'none' say so
            raise PoseDiffError("max_grad_norm: expected > 0, got 0 (it would switch guidance off; for unguided "
                                "sampling set guidance_scale 0 or guidance 'none')")
        if self.eta > 1:  # beyond DDPM's noise the step adds more noise than the next noise level holds
            raise PoseDiffError(f"eta: expected a value in [0, 1] (0 deterministic DDIM, 1 ~ DDPM), got {self.eta:g}")
        dropout = self.evidence_dropout
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise PoseDiffError(f"evidence_dropout: expected a probability in [0, 1), got {dropout!r}")
        if int(self.guidance_repeats) < 1:
            raise PoseDiffError(f"guidance_repeats: expected >= 1, got {self.guidance_repeats}")
        if int(self.final_refinement_steps) < 0:
            raise PoseDiffError(f"final_refinement_steps: expected >= 0, got {self.final_refinement_steps}")
        if int(self.chunk_size) < 1:
            raise PoseDiffError(f"chunk_size: expected >= 1, got {self.chunk_size}")
        if self.matmul_dtype not in MATMUL_DTYPES:
            raise PoseDiffError(f"matmul_dtype: expected one of {MATMUL_DTYPES}, got {self.matmul_dtype!r}")
        return self

    def replace(self, what: str = "sampler", **changes) -> "SamplerConfig":
        """This config with `changes`, validated; an unknown name is an error naming it (`what`: where it came from)."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise PoseDiffError(f"{what}: unknown settings {unknown} (known: {list(FIELDS)})")
        return dataclasses.replace(self, **changes).validate()

    def network_evaluations_per_hypothesis(self) -> int:
        """Denoiser calls per hypothesis (cost model; a DPS call also runs one backward pass)."""
        from posediff_jax.sampling.updates import UPDATE_RULES

        per_update = UPDATE_RULES[self.method].denoiser_calls
        return per_update * (int(self.num_steps) * int(self.guidance_repeats) + int(self.final_refinement_steps))


FIELDS = tuple(field.name for field in dataclasses.fields(SamplerConfig))


def sampler_config_for(energy: Optional[str] = None, **overrides) -> SamplerConfig:
    """The defaults, then the settings energy `energy` registers (None / 'none': generation), then `overrides`."""
    from posediff_jax.guidance.registry import get_energy

    settings = dict(get_energy(energy or "none").sampler_overrides)
    settings.update({key: value for key, value in overrides.items() if value is not None})
    return SamplerConfig().replace(**settings)


def for_views(config: SamplerConfig, views: int) -> SamplerConfig:
    """`config` for a rig of `views` cameras (guidance/multiview.py): their energies sum, so the gradient clip grows
    with them, bounding each view's pull as it bounds one camera's (one clip for the sum held most hypotheses of a
    four-camera rig in a wrong orientation)."""
    return config.replace(max_grad_norm=config.max_grad_norm * max(int(views), 1))


def resolve_scale_schedule(config: SamplerConfig, exact_evidence: bool) -> SamplerConfig:
    """`config` with an 'auto' scale schedule made concrete for the evidence: 'constant' when the 2D evidence is
    exact, 'decreasing' when it comes from a detector (`sampling/guided.py` says why); other values unchanged.
    A sampler given 'auto' unresolved treats it as detector evidence."""
    if isinstance(config.scale_schedule, str) and config.scale_schedule == "auto":
        return dataclasses.replace(config, scale_schedule=AUTO_SCHEDULES[bool(exact_evidence)])
    return config


def matmul_words(config: SamplerConfig) -> str:
    """', bfloat16 matmuls' for a report title when the network's products are not float32, else ''."""
    return "" if config.matmul_dtype == "float32" else f", {config.matmul_dtype} matmuls"


def scale_schedule_name(config: SamplerConfig) -> str:
    """The scale schedule's name for reports and records: the registered name, or 'custom' for a callable."""
    schedule = config.scale_schedule
    return schedule if isinstance(schedule, str) else "custom"


def sampler_section(energy: Optional[str] = None, **overrides):
    """The `config.sampler` ml_collections section for energy `energy` (what config files start from)."""
    import ml_collections

    return ml_collections.ConfigDict(dataclasses.asdict(sampler_config_for(energy, **overrides)))


def from_section(section: Mapping[str, Any]) -> SamplerConfig:
    """A `config.sampler` section -> SamplerConfig (unknown keys are an error naming them)."""
    values = dict(section.items()) if hasattr(section, "items") else dict(section)
    return SamplerConfig().replace("config.sampler", **values)


FLAG_ALIASES = {"num_steps": ("--steps",)}


def _flags(name: str) -> tuple:
    return ("--" + name.replace("_", "-"),) + FLAG_ALIASES.get(name, ())


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def parse_bool_flag(text: str) -> bool:
    """A BOOL flag's value: one of `TRUE_WORDS` / `FALSE_WORDS` (any case); anything else is refused, not read as
    False (`--precondition maybe` must not switch preconditioning off silently)."""
    import argparse

    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false ({'/'.join(TRUE_WORDS)} or {'/'.join(FALSE_WORDS)}), "
                                     f"got {text!r}")


def add_sampler_arguments(parser, energy: Optional[str] = None) -> None:
    """Adds one `--flag` per SamplerConfig field (default: unset, i.e. `sampler_config_for(energy)`'s value)."""
    defaults = sampler_config_for(energy)
    group = parser.add_argument_group("sampler (defaults: posediff_jax/sampling/config.py)")
    for field in dataclasses.fields(SamplerConfig):
        default = getattr(defaults, field.name)
        help_text = f"{field.metadata['help']} (default {default})"
        if field.metadata.get("type") == "bool":
            group.add_argument(*_flags(field.name), dest=field.name, default=None,
                               type=parse_bool_flag,
                               metavar="BOOL", help=help_text)
            continue
        choices = field.metadata.get("choices")
        if field.name == "method":
            from posediff_jax.sampling.updates import registered_samplers

            choices = registered_samplers()
        group.add_argument(*_flags(field.name), dest=field.name, default=None, type=type(field.default),
                           choices=choices, help=help_text)


def sampler_config_from_args(args, energy: Optional[str] = None) -> SamplerConfig:
    """The SamplerConfig the parsed flags ask for (unset flags keep `sampler_config_for(energy)`)."""
    return sampler_config_for(energy, **{name: getattr(args, name, None) for name in FIELDS})
