"""Fuzzed inputs (hypothesis): the readers and validators of the three kinds, and configs.

For any table made from a small valid one by random edits (cells set to junk: empty strings,
NaN, inf, negative, zero, huge numbers, unicode text; columns dropped, renamed to unicode or to
another column's name, added, retyped; rows duplicated, removed, shuffled), read as a DataFrame
or through a CSV file, :func:`drugbayes.prepare` either returns a fit-ready encoding in which
every row is accounted for (kept, or dropped and listed), or raises
:class:`~drugbayes.errors.DataValidationError` whose every problem names where it is (line or
column); never another exception. Configs with random keys and values of random types give a
:class:`~drugbayes.errors.ConfigError` (or an input error naming the data), never a traceback.

Profiles (``HYPOTHESIS_PROFILE``): ``default`` (50 examples, the default suite), ``long``
(1,500 per property; also used by the tests marked ``slow``)::

    HYPOTHESIS_PROFILE=long pytest tests/test_fuzz.py -m slow
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import drugbayes as db  # noqa: E402
from drugbayes.errors import ConfigError, DataValidationError, InputError, Issue  # noqa: E402
from drugbayes.families import family_for_kind  # noqa: E402

settings.register_profile("default", max_examples=50, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=1500, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)


# ------------------------------------------------------------------------------ base tables
def _base(kind: str) -> tuple[pd.DataFrame, dict]:
    """A small valid table of ``kind`` and its ``[data]`` options."""
    if kind == "dose_response":
        w, _ = db.simulate_dose_response(2, 1, n_replicates=1, seed=0)
        return w, {"dose_unit": "uM"}
    if kind == "combination":
        w, _ = db.simulate_combination(1, n_doses=3, n_replicates=1, seed=0)
        return w, {"dose_unit": "uM"}
    from drugbayes.families.xenograft.simulate import simulate_xenograft

    w, _ = simulate_xenograft(1, n_experiments=1, days=(0, 3, 7), seed=0)
    return w.head(12), {}


BASES = {k: _base(k) for k in ("dose_response", "combination", "xenograft")}

JUNK = ["", " ", "NaN", "nan", "NA", "inf", "-inf", "Infinity", "1e400", "-1", "0", "-0.0",
        "1e30", "1e-300", "1e308", "3,5", "0x10", "1_000", "µM", "ü", "名字", "\t", "None", "null",
        "TRUE", "1/0", "--", "🧪"]
UNICODE_NAMES = ["dosé", "réponse", "名字", "Ω", "cell line", " dose", "dose ", "DOSE", "",
                 "Unnamed: 0", "🧪", "dose.1"]

EXTREMES = ["1e308", "-1e308", 1e308, -1e308, "3.5e38", 1e39, "1e30", -1e30, "1e-320", 5e-324,
            np.inf, -np.inf, np.nan, 0, -1, 0.0, "20240304", 2 ** 63 - 1]

junk_values = st.one_of(
    st.sampled_from(EXTREMES),
    st.sampled_from(JUNK),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10 ** 20), max_value=10 ** 20),
    st.text(max_size=6),
    st.none(),
)


@st.composite
def edited_tables(draw, kind: str) -> pd.DataFrame:
    """The base table of ``kind`` after a few random edits."""
    df = BASES[kind][0].copy().astype(object)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["cell", "cell", "cell", "cell", "cell", "drop_col",
                                   "rename", "dup_name",
                                   "add_col", "dup_row", "shuffle", "scale", "retype",
                                   "truncate"]))
        n, cols = len(df), list(df.columns)
        if op == "cell" and n and cols:
            j = draw(st.integers(0, len(cols) - 1))
            col = df.iloc[:, j].astype(object).to_numpy(copy=True)
            col[draw(st.integers(0, n - 1))] = draw(junk_values)
            df.isetitem(j, col)
        elif op == "drop_col" and cols:
            df = df.drop(columns=[draw(st.sampled_from(cols))])
        elif op == "rename" and cols:
            c = draw(st.sampled_from(cols))
            new = draw(st.sampled_from(UNICODE_NAMES))
            if new not in df.columns:
                df = df.rename(columns={c: new})
        elif op == "dup_name" and len(cols) > 1:
            i, j = draw(st.lists(st.integers(0, len(cols) - 1), min_size=2, max_size=2,
                                 unique=True))
            names = list(cols)
            names[j] = names[i]
            df = df.set_axis(names, axis=1)
        elif op == "add_col" and df.columns.is_unique:
            name = draw(st.sampled_from(UNICODE_NAMES + ["extra", "notes"]))
            if name not in df.columns:
                df[name] = [draw(junk_values) for _ in range(n)]
        elif op == "dup_row" and n:
            df = pd.concat([df, df.iloc[[draw(st.integers(0, n - 1))]]], ignore_index=True)
        elif op == "shuffle" and n:
            perm = draw(st.permutations(range(n)))
            df = df.iloc[list(perm)].reset_index(drop=True)
        elif op == "scale" and cols and df.columns.is_unique:
            c = draw(st.sampled_from(cols))
            f = draw(st.sampled_from([-1.0, 0.0, 1e30, 1e-30, 100.0, 120000.0, 1e300]))
            num = pd.to_numeric(df[c], errors="coerce")
            if num.notna().any():
                df[c] = (num * f).astype(object)
        elif op == "retype" and cols and df.columns.is_unique:
            c = draw(st.sampled_from(cols))
            how = draw(st.sampled_from(["float", "str", "category", "int", "bool", "date"]))
            try:
                if how == "float":
                    df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
                elif how == "str":
                    df[c] = df[c].astype(str)
                elif how == "category":
                    df[c] = df[c].astype(str).astype("category")
                elif how == "bool":
                    df[c] = df[c].astype(bool)
                elif how == "date":
                    df[c] = pd.to_datetime(df[c], errors="coerce", format="mixed")
                else:
                    df[c] = pd.to_numeric(df[c], errors="coerce").fillna(0).astype(np.int64)
            except (ValueError, TypeError, OverflowError):
                pass
        elif op == "truncate":
            df = df.head(draw(st.integers(0, n)))
    return df.reset_index(drop=True)


def _known(kind: str) -> tuple[str, ...]:
    from drugbayes.data.combination import COMBINATION
    from drugbayes.data.schemas import DOSE_RESPONSE, XENOGRAFT

    return {"dose_response": DOSE_RESPONSE, "combination": COMBINATION,
            "xenograft": XENOGRAFT}[kind].known


PLAUSIBLE = ["CL1", "CL2", "D1", "D2", "M1", "M2", "vehicle", "sample", "blank", "0", "0.01",
             "0.1", "1", "10", "0.5", "0.9", "1.1", "3", "7", "100", "E1", "P1", "A1"]


@st.composite
def random_tables(draw, kind: str) -> pd.DataFrame:
    """A table from scratch: a random set of the kind's columns (each present with
    probability 3/4) and unicode-named extras, a few rows of plausible or junk cells."""
    cols = [c for c in _known(kind) if draw(st.integers(0, 3))]
    cols += draw(st.lists(st.sampled_from(UNICODE_NAMES), max_size=2, unique=True))
    cols = list(dict.fromkeys(cols))
    n = draw(st.integers(0, 8))
    cell = st.one_of(st.sampled_from(PLAUSIBLE), st.sampled_from(PLAUSIBLE), junk_values)
    return pd.DataFrame({c: [draw(cell) for _ in range(n)] for c in cols}, dtype=object)


# ------------------------------------------------------------------------------ the property
def _located(issue: Issue) -> bool:
    """A problem names where it is: a line or a column (table-wide ones name the table)."""
    return (issue.line is not None or issue.column is not None
            or issue.message.startswith(("no data rows", "the file is empty")))


def _check(kind: str, df: pd.DataFrame, via_csv: bool) -> str:
    """Prepare ``df`` (a DataFrame, or written to CSV and read back); check the outcome.
    Returns ``"ok"`` or ``"refused"``."""
    opts = BASES[kind][1]
    n = len(df)
    with tempfile.TemporaryDirectory() as tmp:
        table: pd.DataFrame | Path = df
        if via_csv:
            table = Path(tmp) / "t.csv"
            df.to_csv(table, index=False)
        try:
            vt, data = db.prepare(table, kind=kind, **opts)
        except DataValidationError as e:
            assert e.issues, "an error without a problem"
            for i in e.issues:
                assert isinstance(i, Issue) and i.message, i
                assert _located(i), f"problem without line or column: {i}"
            return "refused"
    # every row accounted for: kept or dropped and listed
    assert len(vt.df) + len(vt.dropped) == n, (len(vt.df), len(vt.dropped), n)
    assert all(isinstance(d.get("line"), int) and d.get("reason") for d in vt.dropped)
    # columns the kind does not read are carried (one row per kept row), never refused, and
    # each reaches the encoded data, per unit or per well
    carried = [] if vt.carried is None else [str(c) for c in vt.carried.columns]
    assert vt.carried is None or len(vt.carried) == len(vt.df)
    per = {k for f in CARRIED[kind] for k in getattr(data, f)}
    assert set(carried) == per, (carried, per)
    # fit-ready: the model's arrays build and are finite
    arrays = family_for_kind(kind).arrays(data)
    for k, v in arrays.items():
        a = np.asarray(v) if not isinstance(v, (str, dict)) else None
        if a is not None and a.dtype.kind == "f":
            assert np.isfinite(a).all(), f"non-finite model array {k}"
    return "ok"


KINDS = ["dose_response", "combination", "xenograft"]
CARRIED = {"dose_response": ("carried_curve", "carried_well"),
           "combination": ("carried_matrix", "carried_well"),
           "xenograft": ("carried_mouse", "carried_obs")}


def _tables(kind: str) -> st.SearchStrategy:
    return st.one_of(edited_tables(kind), edited_tables(kind), random_tables(kind))


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data(), via_csv=st.booleans())
def test_tables_are_encoded_or_refused_with_located_problems(kind, data, via_csv):
    event(_check(kind, data.draw(_tables(kind)), via_csv))


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
@settings(settings.get_profile("long"))
@given(data=st.data(), via_csv=st.booleans())
def test_tables_long_profile(kind, data, via_csv):
    """The same property with the ``long`` profile's many examples."""
    event(_check(kind, data.draw(_tables(kind)), via_csv))


def test_the_unedited_tables_encode():
    """The property's base tables pass (so the fuzzed ones start from a fit-ready table)."""
    for kind in BASES:
        assert _check(kind, BASES[kind][0].copy(), via_csv=False) == "ok"
        assert _check(kind, BASES[kind][0].copy(), via_csv=True) == "ok"


# ------------------------------------------------------------------------------ configs
SECTIONS = ["run", "data", "model", "inference", "diagnostics", "report", "contrasts", "Ω",
            "data.columns", "data.filter", "model.options", "model.priors"]


def _keys() -> dict[str, list[str]]:
    from drugbayes.config import schema

    out = {"run": list(schema.RunConfig.model_fields),
           "data": list(schema.DataConfig.model_fields) + [k for ks in
                                                            schema.kind_keys().values()
                                                            for k in ks],
           "inference": list(schema.InferenceConfig.model_fields),
           "diagnostics": list(schema.DiagnosticsConfig.model_fields),
           "report": list(schema.ReportConfig.model_fields),
           "model": list(schema.ModelConfig.model_fields),
           "data.columns": ["dose", "response", "cell_line", "drug", "date"],
           "data.filter": ["keep", "drop"],
           "model.options": [], "model.priors": []}
    from drugbayes.families import REGISTRY

    for fam in REGISTRY.values():
        out["model.options"] += list(fam.options.model_fields)
        out["model.priors"] += list(fam.priors.model_fields)
    return {k: sorted({str(x) for x in v}) for k, v in out.items()}


KEYS = _keys()
toml_scalars = st.one_of(
    st.booleans(), st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["map", "nuts", "svi", "screen", "uM", "fraction", "raw", "percent",
                     "rate", "dose_response", "combination", "xenograft", "drop", "error",
                     "../x", "/tmp", "wells.csv"]))


def _nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.lists(inner, max_size=3),
                     st.dictionaries(st.text(max_size=5), inner, max_size=3))


toml_values = st.recursive(toml_scalars, _nested, max_leaves=6)


plausible_values = st.one_of(
    st.integers(0, 5), st.sampled_from([0.0, 0.01, 0.5, 0.95, 1.0, 2.0, 10.0, -1.0]),
    st.booleans(), st.sampled_from(["map", "nuts", "uM", "nM", "fraction", "percent", "drop",
                                    "error", "auto", "centered", "non_centered", "png"]))


@st.composite
def edited_configs(draw) -> dict:
    raw: dict = {"data": {"path": "wells.csv", "dose_unit": "uM"},
                 "inference": {"method": "map", "map_num_steps": 5},
                 "report": {"plots": False}}
    for _ in range(draw(st.integers(1, 3))):
        sec = draw(st.sampled_from(SECTIONS))
        known = KEYS.get(sec, [])
        key = draw(st.sampled_from(known) if known and draw(st.integers(0, 4))
                   else st.text(min_size=1, max_size=6))
        # values the schema accepts most of the time, so that many configs reach the data,
        # the model spec and the back-end's checks; any TOML value otherwise
        value = draw(st.one_of(plausible_values, plausible_values, toml_values))
        if sec == "contrasts":
            raw["contrasts"] = value if draw(st.booleans()) else [{key: value}]
            continue
        node = raw
        for part in sec.split("."):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                nxt = node[part] = {}
            node = nxt
        node[key] = value
    return raw


def _config_outcome(raw: dict, overrides: list[str], folder: Path) -> None:
    from drugbayes.api import check_config
    from drugbayes.config.loading import apply_overrides, config_from_dict

    try:
        cfg = config_from_dict(apply_overrides(raw, overrides), source="fuzz.toml",
                               base_dir=folder)
    except ConfigError as e:
        assert e.issues and all(str(i) for i in e.issues)
        event("refused by the schema")
        return
    try:
        check_config(cfg)
        event("config ok")
    except InputError as e:  # ConfigError, DataValidationError
        assert e.issues and all(str(i) for i in e.issues)
        event(f"read, then refused ({type(e).__name__})")


@pytest.fixture(scope="module")
def config_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cfg")
    BASES["dose_response"][0].to_csv(folder / "wells.csv", index=False)
    return folder


@given(raw=edited_configs(),
       overrides=st.lists(st.one_of(st.text(max_size=12),
                                    st.builds(lambda s, k, v: f"{s}.{k}={v}",
                                              st.sampled_from(["data", "inference", "run"]),
                                              st.sampled_from(["missing", "method", "seed",
                                                               "min_doses", "dose_unit"]),
                                              st.sampled_from(["1", "map", "0", "nM", "x"])),
                                    st.builds(lambda s, k, v: f"{s}.{k}={v}",
                                              st.sampled_from(SECTIONS[:6]),
                                              st.text(max_size=6), st.text(max_size=6))),
                          max_size=1))
def test_configs_give_config_errors_never_tracebacks(config_folder, raw, overrides):
    _config_outcome(raw, overrides, config_folder)


@given(text=st.text(max_size=60))
def test_config_files_of_any_text(tmp_path_factory, text):
    from drugbayes.config import load_config

    p = tmp_path_factory.mktemp("toml") / "c.toml"
    p.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_config(p)
    except ConfigError as e:
        assert e.issues
