"""Test setup: CPU only, two fake host devices, shared small fixtures."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_force_host_platform_device_count=2").strip()

# the per-unit checks (report/checks.py) cost seconds per fit: off unless a test asks for them
# (tests/test_trust.py); subprocesses (the CLI tests) inherit it
os.environ.setdefault("DRUGBAYES_UNIT_CHECKS", "0")

# JAX's persistent compilation cache is opt-in (a run writes nothing outside its run directory):
# the suite opts in with a folder of its own under .pytest_cache (git-ignored), shared by the
# xdist workers and the CLI subprocesses, so that reruns skip XLA compilation
os.environ.setdefault(
    "DRUGBAYES_COMPILATION_CACHE",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                 ".pytest_cache", "drugbayes-jax"))

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


@pytest.fixture(scope="module")
def joint_study():
    """The joint family's contract study (lines A, B, C; drugs x, y; a xenograft in A and
    C) and its data options: ``(tables, options)``, one per test module."""
    from drugbayes.families import REGISTRY

    return REGISTRY["joint"].contract_data(1)


@pytest.fixture(scope="session")
def example_config():
    return REPO / "configs" / "examples" / "lapatinib_her2.toml"


@pytest.fixture(scope="session")
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Free compiled XLA programs after every test module.

    Each fit compiles new programs (new model closures), and every XLA:CPU executable holds
    memory mappings; a whole suite in one process otherwise exceeds the kernel's
    ``vm.max_map_count`` (65,530 here) and XLA segfaults in ``mmap``. Measured: about 65,000
    mappings by the 100th test without this, at most about 6,000 with it. Per module rather
    than per test: tests in a module share compiled programs (per test doubled the suite's
    time).
    """
    yield
    import gc

    import jax

    jax.clear_caches()
    gc.collect()
