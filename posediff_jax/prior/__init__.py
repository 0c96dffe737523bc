"""The unconditional pose prior: the `Prior` PyTree, its file format, loading and the shipped priors.

Everything loads priors through `resolve_prior`; nothing here imports training or optax (orbax only lazily).
"""

from posediff_jax.prior.format import (PARAMS_NPZ, PRIOR_JSON, PriorFormatError, export_prior, prior_description,
                                       prior_from_description, read_prior_description, write_prior_description)
from posediff_jax.prior.loading import (NAMED_PRIORS, SHIPPED_PRIORS, default_prior_path, load_default_prior,
                                        load_prior, load_shipped_prior, prior_name, resolve_prior, shipped_prior_path)
from posediff_jax.prior.prior import Prior

__all__ = ["PARAMS_NPZ", "PRIOR_JSON", "NAMED_PRIORS", "SHIPPED_PRIORS", "Prior", "PriorFormatError",
           "default_prior_path", "export_prior", "load_default_prior", "load_prior", "load_shipped_prior",
           "prior_description", "prior_from_description", "prior_name", "read_prior_description", "resolve_prior",
           "shipped_prior_path", "write_prior_description"]
