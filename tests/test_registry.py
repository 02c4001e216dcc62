"""The back-end registry: the only list of back-ends; what they read, fit and are checked by."""

import ast
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import drugbayes as db
from drugbayes.config import DiagnosticsConfig, InferenceConfig, config_from_dict
from drugbayes.diagnostics import check
from drugbayes.errors import ConfigError
from drugbayes.inference import registry
from drugbayes.inference.registry import BACKENDS, FitTask, get_backend

SRC = Path(db.__file__).parent


def test_unknown_method_lists_the_registered_ones():
    with pytest.raises(ConfigError) as e:
        config_from_dict({"inference": {"method": "hmc"}})
    msg = str(e.value)
    assert "inference.method" in msg and "hmc" in msg
    assert all(name in msg for name in BACKENDS)
    with pytest.raises(ConfigError) as e:
        db.fit(db.simulate_dose_response(2, 2, seed=0)[0], inference={"method": "hmc"})
    assert all(name in str(e.value) for name in BACKENDS)
    with pytest.raises(ConfigError) as e:
        get_backend("hmc")
    assert all(name in str(e.value) for name in BACKENDS)


def test_default_method_is_the_registrys_first():
    assert InferenceConfig().method == next(iter(BACKENDS))


def test_every_inference_key_is_read_by_a_backend():
    fields = set(InferenceConfig.model_fields) - {"method"}
    declared = {k for b in BACKENDS.values() for k in b.keys}
    assert declared <= fields, declared - fields
    assert fields <= declared, fields - declared


class _Recording:
    """An InferenceConfig that records which keys are read."""

    def __init__(self, settings):
        object.__setattr__(self, "_settings", settings)
        object.__setattr__(self, "read", set())

    def __getattr__(self, name):
        self.read.add(name)
        return getattr(self._settings, name)


def _task(response_scale="fraction"):
    from drugbayes.api import _spec
    from drugbayes.families import get_family

    df, _ = db.simulate_dose_response(2, 2, seed=0, response_scale=response_scale)
    _, data = db.prepare(df, dose_unit="uM", response_scale=response_scale)
    spec = _spec(None, "dose_response")
    fam = get_family(spec.family)
    return FitTask(fam, spec, data, fam.arrays(data))


# the sampling back-ends compile for about a minute on two CPU cores: slow
_QUICK = ("map", "svi")


@pytest.mark.parametrize("name", [n if n in _QUICK else pytest.param(n, marks=pytest.mark.slow)
                                  for n in BACKENDS])
def test_backends_read_only_the_keys_they_declare(name):
    """Run each back-end on a tiny problem with tiny budgets: every key read is declared."""
    budget = {"num_chains": 2, "num_warmup": 10, "num_samples": 10, "num_steps": 20,
              "map_num_steps": 20, "chunk_size": 5}
    settings = _Recording(InferenceConfig(method=name, **budget))
    res = BACKENDS[name].run(_task(), settings, 0)
    assert res.samples
    assert settings.read <= set(BACKENDS[name].keys) | {"method"}, (
        settings.read - set(BACKENDS[name].keys))


def test_a_backend_says_why_it_cannot_fit_a_model():
    """Asked of the back-end: the screen fits normalised viability only; nuts fits anything
    and never encodes the arrays to answer."""
    task = _task("raw")
    issues = get_backend("screen").unsupported(task.spec, lambda: task.arrays, "c.toml")
    assert [i.column for i in issues] == ["inference.method = 'screen': data.response_scale"]
    assert issues[0].source == "c.toml" and "normalised" in issues[0].message

    def never():
        raise AssertionError("arrays encoded for a back-end without a supports check")

    assert get_backend("nuts").unsupported(task.spec, never) == []
    xspec = db.api._spec(None, "xenograft")
    issues = get_backend("screen").unsupported(xspec, lambda: None)
    assert [i.column for i in issues] == ["inference.method = 'screen': model.family"]
    with pytest.raises(ConfigError, match="response_scale"):
        get_backend("screen").check_supports(task.spec, lambda: task.arrays)


def test_diagnostics_follow_capabilities_not_names(monkeypatch):
    """A copy of a back-end under another name gets exactly the same checks."""
    rng = np.random.default_rng(0)
    samples = {"a": rng.standard_normal((2, 50)), "b": rng.standard_normal((2, 50, 3))}
    stats = {"diverging": np.zeros((2, 50), bool), "energy": rng.standard_normal((2, 50))}
    thresholds = DiagnosticsConfig()
    for name in list(BACKENDS):
        copy = replace(BACKENDS[name], name=f"renamed_{name}")
        monkeypatch.setitem(registry.BACKENDS, copy.name, copy)
        want = check(name, samples, stats, thresholds, info={"loss_finite": True})
        got = check(copy.name, samples, stats, thresholds, info={"loss_finite": True})
        assert got["checks"] == want["checks"], name
        assert got["passed"] == want["passed"]
        if BACKENDS[name].chains:
            assert "min_ess_bulk" in got["checks"] and "max_rhat" in got["checks"]
        else:
            assert "min_ess_bulk" not in got["checks"]
        assert ("divergences" in got["checks"]) == BACKENDS[name].divergences
        assert ("min_bfmi" in got["checks"]) == BACKENDS[name].energy
        assert ("loss_finite" in got["checks"]) == (BACKENDS[name].point_estimate
                                                    or BACKENDS[name].variational)


def _string_constants(path: Path) -> set[str]:
    """String literals of a module's code (docstrings and comments left out)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docstrings}


@pytest.mark.parametrize("module", ["api.py", "cli.py", "diagnostics.py", "results.py",
                                    "outputs.py", "config"])
def test_only_the_registry_names_backends(module):
    path = SRC / module
    files = sorted(path.glob("*.py")) if path.is_dir() else [path]
    # ``inference.init = "map"`` (start from the posterior mode) is a value, not a back-end
    allowed = {"config/schema.py": {"map"}}
    for f in files:
        named = _string_constants(f) & set(BACKENDS)
        named -= allowed.get(str(f.relative_to(SRC)), set())
        assert not named, f"{f.relative_to(SRC)} names back-end(s) {sorted(named)}"
