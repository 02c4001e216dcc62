"""Test setup: CPU only, two fake host devices, shared small fixtures."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=2").strip()

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

TINY_NUTS = {"method": "nuts", "num_chains": 2, "num_warmup": 150, "num_samples": 150,
             "map_num_steps": 500}


@pytest.fixture(scope="session")
def small_screen():
    """A small simulated normalised screen (4 cell lines x 2 drugs, 2 experiments) + truth."""
    import drugbayes as db

    return db.simulate_dose_response(4, 2, n_experiments=2, seed=3)


@pytest.fixture(scope="session")
def example_config():
    return REPO / "configs" / "examples" / "lapatinib_her2.toml"


@pytest.fixture(scope="session")
def rng():
    return np.random.default_rng(0)
