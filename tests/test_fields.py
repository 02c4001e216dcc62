"""Encoded fields: category levels and the dose scale."""

import numpy as np
import pandas as pd
import pytest

from drugbayes.data.fields import DoseScale, Levels, UnknownLevelError


def test_levels_keep_first_appearance_order_and_encode_another_table():
    lv = Levels.of(pd.Series(["b", "a", "b", "c"]), "cell line")
    assert lv.names == ["b", "a", "c"] and len(lv) == 3 and lv[1] == "a"
    np.testing.assert_array_equal(lv.codes(["c", "b", "b"]), [2, 0, 0])
    assert lv.codes(pd.Series(["a"])).dtype == np.int32
    assert lv.code("c") == 2


def test_levels_name_every_unknown_value():
    lv = Levels.of(["A", "B"], "drug")
    msg = r"unknown drug\(s\) 'X', 'Y'; the levels are 'A', 'B'"
    with pytest.raises(UnknownLevelError, match=msg):
        lv.codes(["A", "X", "Y", "X"])


def test_dose_scale_centres_and_converts_back():
    doses = np.array([0.01, 0.1, 1.0, 10.0, 5.0, 50.0])
    drug = np.array([0, 0, 0, 0, 1, 1])
    sc = DoseScale.from_doses(doses, drug, 2, "uM")
    np.testing.assert_allclose(sc.center, [-6.5, 0.5 * np.log10(5e-6 * 50e-6)], rtol=1e-12)
    np.testing.assert_allclose(sc.half_range, [1.5, 0.5])
    x = sc.centre(np.r_[0.0, doses], np.r_[0, drug])
    assert x[0] == 0.0
    np.testing.assert_allclose(sc.to_dose(x[1:], drug), doses, rtol=1e-12)
    np.testing.assert_allclose(sc.to_log10(x[1:], drug), np.log10(doses), atol=1e-12)
    assert sc.to_dose(np.array(0.3), 0, is_zero=True) == 0.0
    np.testing.assert_array_equal(sc.to_dose(np.array([np.inf, -np.inf]), 0), [np.inf, 0.0])
    # the unit changes only the reported values
    sc_nm = DoseScale.from_doses(doses * 1e3, drug, 2, "nM")
    np.testing.assert_allclose(sc_nm.center, sc.center, atol=1e-12)
    np.testing.assert_allclose(sc_nm.to_dose(x[1:], drug), doses * 1e3, rtol=1e-12)
