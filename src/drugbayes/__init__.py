"""drugbayes: Bayesian modelling of cancer drug response on JAX + NumPyro."""

__version__ = "0.1.0"

from .api import FitResult, fit, prepare  # noqa: E402
from .batch import run  # noqa: E402
from .config import load_config  # noqa: E402
from .errors import ConfigError, DataValidationError, DiagnosticsError  # noqa: E402
from .io import read_table  # noqa: E402
from .simulate import simulate_combination, simulate_dose_response  # noqa: E402

__all__ = [
    "ConfigError", "DataValidationError", "DiagnosticsError", "FitResult", "fit", "load_config",
    "prepare", "read_table", "run", "simulate_combination", "simulate_dose_response",
    "__version__",
]
