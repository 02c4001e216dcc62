"""Curve maths: limits, monotonicity, float32 finiteness at extreme doses."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from drugbayes.curves import absolute_log10_ic50, log_logistic, mean_viability


def test_limits_and_midpoint():
    x = jnp.array([-30.0, -6.0, 30.0], jnp.float32)
    v = log_logistic(x, -6.0, 1.0, 1.0, 0.2)
    np.testing.assert_allclose(v, [1.0, 0.6, 0.2], atol=1e-6)


def test_monotone_decreasing_for_positive_hill():
    x = jnp.linspace(-14, 4, 500)
    v = log_logistic(x, -7.0, 1.3, 1.05, 0.1)
    assert np.all(np.diff(np.asarray(v)) <= 1e-7)


@pytest.mark.parametrize("dose_m", [1e-12, 1e3])
@pytest.mark.parametrize("hill", [0.05, 1.0, 20.0])
def test_finite_float32_at_extreme_doses(dose_m, hill):
    x = jnp.asarray(np.log10(dose_m), jnp.float32)
    L = jnp.asarray(-7.0, jnp.float32)

    def f(params):
        L, h = params
        return log_logistic(x, L, h, jnp.float32(1.0), jnp.float32(0.1))

    v = f((L, jnp.float32(hill)))
    g = jax.grad(f)((L, jnp.float32(hill)))
    assert v.dtype == jnp.float32
    assert np.isfinite(float(v)) and all(np.isfinite(float(t)) for t in g)


def test_untreated_points_equal_top():
    v = log_logistic(jnp.array([0.0, 0.0]), 0.0, 1.0, 0.9, 0.1, is_zero=jnp.array([True, False]))
    assert float(v[0]) == pytest.approx(0.9)
    assert float(v[1]) == pytest.approx(0.9 * (0.1 + 0.9 * 0.5))


def test_mean_viability_matches_numeric_integral():
    lo, hi, L, h, top, b = -2.0, 1.5, 0.3, 1.7, 1.02, 0.15
    xs = np.linspace(lo, hi, 20001)
    num = np.trapezoid(np.asarray(log_logistic(xs, L, h, top, b), np.float64), xs) / (hi - lo)
    assert float(mean_viability(lo, hi, L, h, top, b)) == pytest.approx(num, abs=1e-5)


def test_absolute_ic50_cases():
    # crosses: equals relative IC50 when top = 1 and bottom = 0
    assert float(absolute_log10_ic50(-6.0, 1.0, 1.0, 0.0)) == pytest.approx(-6.0, abs=1e-5)
    # bottom above 50%: never crosses -> +inf; top below 50% -> -inf
    assert float(absolute_log10_ic50(-6.0, 1.0, 1.0, 0.6)) == np.inf
    assert float(absolute_log10_ic50(-6.0, 1.0, 0.4, 0.1)) == -np.inf
    # bottom 0.2: crossing is right of the midpoint
    assert float(absolute_log10_ic50(-6.0, 1.0, 1.0, 0.2)) > -6.0


def test_numpy_and_jax_forms_agree():
    rng = np.random.default_rng(1)
    x, L = rng.normal(0, 2, 200), rng.normal(0, 1, 200)
    h, top, b = np.exp(rng.normal(0, 0.5, 200)), rng.uniform(0.9, 1.1, 200), rng.uniform(0, 1, 200)
    lo, hi = -np.abs(rng.normal(1, 0.5, 200)), np.abs(rng.normal(1, 0.5, 200))
    for f, args in ((log_logistic, (x, L, h, top, b)),
                    (mean_viability, (lo, hi, L, h, top, b)),
                    (absolute_log10_ic50, (L, h, top, b))):
        got = f(*args, xp=np)  # float64 numpy; the default is float32 jax.numpy
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        ref = np.asarray(f(*(jnp.asarray(a, jnp.float32) for a in args)), np.float64)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
