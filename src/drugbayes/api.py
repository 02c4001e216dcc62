"""Python API: compose the stages (read -> validate -> encode -> model -> infer -> outputs).

A batch of configs (:func:`drugbayes.run`) is :mod:`drugbayes.batch`.
"""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import xarray as xr

from . import __version__
from .config import (
    Config,
    DataConfig,
    DiagnosticsConfig,
    InferenceConfig,
    ModelConfig,
    resolve_model,
)
from .diagnostics import check
from .errors import ConfigError, DiagnosticsError, DiagnosticsWarning, Issue
from .families import Spec, family_for_kind, get_family, kinds
from .inference.checkpoint import checkpointing
from .inference.checkpoint import current as current_checkpoint
from .inference.checkpoint import remove as remove_checkpoint
from .inference.registry import FitTask, get_backend
from .inference.settings import InferenceResult, enable_compilation_cache
from .outputs import (
    assembling,
    inputs_fingerprint,
    logging_to,
    output_dir_issues,
    write_run_directory,
)
from .posterior import add_nd_coords, to_datatree, well_variables
from .results import FitResult

__all__ = ["FitResult", "check_config", "fit", "infer", "output_dir_issues", "prepare",
           "run_config", "write_run_directory"]

log = logging.getLogger("drugbayes")

REFERENCE = "reference"
"""Tag of a family's reference fit (``Family.reference_model``) in checkpoint names."""


# ----------------------------------------------------------------------------- stages
def prepare(table: Any, *, kind: str | None = None, columns: dict | None = None,
            **options: Any) -> tuple[Any, Any]:
    """Read, validate and encode a table (raises on bad input, listing every problem).

    Parameters
    ----------
    table : path or DataFrame
        For a kind that reads named blocks (``blocks`` in ``options``): ``{block kind: path or
        DataFrame}`` or None (each block's own ``path``).
    kind : str, optional
        A registered data kind (``drugbayes families``); default: the first registered one
        (dose-response wells).
    columns : dict, optional
        Canonical column name -> the table's column name.
    **options
        The ``[data]`` keys of the kind (``dose_unit``, ``response_scale``, ``missing``,
        ``min_doses`` for dose-response; ``volume_constant``, ``control_arm``, ... for
        xenografts).

    Returns
    -------
    (validated table, encoded data)
    """
    from .data.readers import read_input

    dc = _validated(DataConfig, {"kind": kind or kinds()[0], "columns": dict(columns or {}),
                                 **options}, "data")
    fam = family_for_kind(dc.kind)
    if fam.data_blocks:  # named blocks: the family reads each with its kind's own reader
        return fam.prepare(table, dc)
    table, dc = read_input(table, dc)  # the lab's files -> the canonical long table
    return fam.prepare(table, dc)


def _spec(model: str | dict | ModelConfig | None, kind: str) -> Spec:
    if isinstance(model, str):
        mc = ModelConfig(preset=model)
    elif isinstance(model, dict):
        mc = ModelConfig.model_validate(model)
    elif model is None:
        mc = ModelConfig()
    else:
        mc = model
    mc = resolve_model(mc, kind)
    fam = get_family(mc.family or kind)
    return fam.make_spec(mc.options, mc.priors, mc.preset, mc.description)


def infer(spec: Spec, data: Any, settings: InferenceConfig,
          seed: int) -> InferenceResult:
    """Run the configured back-end on encoded data.

    The back-end is asked first whether it can fit this model and data (a
    :class:`ConfigError` lists why not).
    """
    enable_compilation_cache()
    fam = get_family(spec.family)
    arrays = fam.arrays(data)
    backend = get_backend(settings.method)
    backend.check_supports(spec, lambda: arrays)
    return backend.run(FitTask(fam, spec, data, arrays), settings, seed)


def _posterior_tree(fam, spec: Spec, data: Any, res: InferenceResult,
                    attrs: dict, log_lik: dict | None = None) -> xr.DataTree:
    dims, coords = fam.posterior_dims(data)
    samples = dict(res.samples)
    extra = fam.observed(data, samples)
    samples.update(extra.get("samples", {}))
    dims.update(extra.get("dims", {}))
    coords.update(extra.get("coords", {}))
    tree = to_datatree(samples, res.sample_stats, dims, coords, extra.get("observed"),
                       extra.get("observed_dims"), extra.get("constant"),
                       extra.get("constant_dims"), attrs, log_lik)
    return add_nd_coords(tree, extra.get("coords_nd", {}))


def fit(table: Any, kind: str | None = None, *, model: str | dict | ModelConfig | None = None,
        inference: dict | InferenceConfig | None = None, seed: int = 0,
        columns: dict[str, Any] | None = None, contrasts: list[dict] | None = None,
        diagnostics: dict | DiagnosticsConfig | None = None, interval_prob: float = 0.95,
        prepared: tuple[Any, Any] | None = None, **data_options: Any) -> FitResult:
    """Fit a model to a long table.

    Parameters
    ----------
    table : path or DataFrame
        CSV/Parquet path or a DataFrame: one row per well (dose-response) or per mouse and
        measurement day (xenograft).
    kind : str, optional
        A registered data kind (``drugbayes families``); default: the first registered one
        (dose-response wells).
    model : str, dict or ModelConfig, optional
        Preset name (``"dose_response/hier_3pl"``), ``{"preset":..., "options":...,
        "priors":...}`` or a config's ``[model]``; default: the kind's default preset.
    inference : dict or InferenceConfig, optional
        ``{"method": "nuts", "num_chains": 4, ...}``: ``method`` is a registered back-end
        (``drugbayes.inference.registry.BACKENDS``), the other keys its settings.
    seed : int
        Seed of every random choice (runs are reproducible).
    columns : dict, optional
        Canonical column name -> the table's column name.
    contrasts : list of dict, optional
        Per kind: ``[{"drug": "lapatinib", "a": "SKBR3-L", "b": "SKBR3"}]`` (dose-response),
        ``[{"combination": "lap+tras", "a": "lap", "b": "tras"}]`` (xenograft).
    diagnostics : dict or DiagnosticsConfig, optional
        Thresholds (``max_rhat``, ``min_ess_bulk``, ...).
    interval_prob : float
        Probability of the equal-tailed intervals in the summary.
    prepared : (validated table, encoded data), optional
        The output of :func:`prepare` for ``table`` with the same data options, so that a
        table validated once is not read again.
    **data_options
        The ``[data]`` keys of the kind (``dose_unit="uM"``, ``response_scale``, ``missing``,
        ``min_doses``; ``volume_constant``, ``control_arm``, ``detection_limit``, ``tc_day``,
        ``target_volume``, ...).

    Returns
    -------
    FitResult

    Raises
    ------
    DataValidationError, ConfigError
        Bad input (every problem at once).
    """
    t0 = time.perf_counter()
    settings = (inference if isinstance(inference, InferenceConfig)
                else _validated(InferenceConfig, inference or {}, "inference"))
    thresholds = (diagnostics if isinstance(diagnostics, DiagnosticsConfig)
                  else _validated(DiagnosticsConfig, diagnostics or {}, "diagnostics"))
    kind = kind or kinds()[0]
    spec = _spec(model, kind)
    fam = get_family(spec.family)
    if fam.kind != kind:
        raise ConfigError([Issue("<config>", None, "model.family", spec.family,
                                 f"family of kind {fam.kind!r}, but the data are {kind!r}")])
    vt, data = prepared or prepare(table, kind=kind, columns=columns, **data_options)
    contrasts = list(contrasts or [])
    fam.validate_contrasts(data, contrasts, "<config>")
    if fam.check_spec:
        fam.check_spec(spec, data, "<config>")
    source = getattr(vt, "source", None)
    for note in getattr(source, "notes", ()):
        log.info("input: %s", note)
    for d in vt.dropped:
        log.info("dropped line %s: %s (%s)", d["line"], d["reason"],
                 ", ".join(f"{k} {v}" for k, v in d.items() if k not in ("line", "reason")))
    if vt.dropped:
        log.info("dropped %d row(s) with a missing response", len(vt.dropped))
    log.info("data: %s", fam.describe(vt, data))
    res = infer(spec, data, settings, seed)
    labels = _labels(fam, data)
    diag = check(settings.method, res.samples, res.sample_stats, thresholds, labels, res.info)
    log.info("approximation: %s", diag["approximation"]["description"])
    diag["timings"] = {**res.timings, "fit_total": time.perf_counter() - t0}
    diag["dropped_wells"] = {"count": len(vt.dropped), "wells": vt.dropped}
    diag["excluded"] = list(getattr(source, "excluded", ()))
    attrs = {"drugbayes_version": __version__, "family": spec.family,
             "preset": spec.preset or "", "method": settings.method, "seed": seed,
             "approximation": diag["approximation"]["name"],
             **{k: v for k, v in getattr(data, "attrs", {}).items()}}
    parameters = [k for k in res.samples if k not in fam.deterministic_sites]
    log_lik = {}
    if fam.pointwise:
        t_pw = time.perf_counter()
        pw = fam.pointwise(data, spec, res.samples, seed=seed)
        log_lik = {k: v for k, v in pw.items() if k.startswith("log_lik_")}
        res.samples.update({k: v for k, v in pw.items() if k not in log_lik})
        diag["timings"]["pointwise"] = time.perf_counter() - t_pw
    tree = _posterior_tree(fam, spec, data, res, attrs, log_lik)
    result = FitResult(tree, diag, data, spec, res, contrasts, interval_prob, vt.dropped,
                       seed=seed, well_variables=well_variables(tree, parameters),
                       settings=settings)
    result.check_units(thresholds)
    ref = fam.reference_model(spec) if fam.reference_model else None
    if ref is not None:
        _compare_with_reference(result, ref, table, kind, settings, seed, columns, thresholds,
                                interval_prob, (vt, data), data_options)
    if not diag["passed"]:
        what = "diagnostics" if diag["approximation"]["diagnosed"] else "checks"
        msg = f"{what} failed: " + ", ".join(
            f"{k}={v['value']}" for k, v in diag["checks"].items() if not v["passed"])
        log.warning(msg)
    return result


def _compare_with_reference(result: FitResult, ref: dict, table: Any, kind: str,
                            settings: InferenceConfig, seed: int, columns: Any,
                            thresholds: DiagnosticsConfig, interval_prob: float,
                            prepared: tuple[Any, Any], data_options: dict) -> None:
    """Fit the family's reference model to the same table (same back-end, seed and
    thresholds, no per-unit checks) and put the per-unit comparison on ``result``
    (``comparison``: the summary's columns and a table; ``diagnostics["reference"]``: the
    reference fit's own diagnostics). A run without posterior draws gets a note instead."""
    fam = result.family
    rec: dict[str, Any] = {"model": ref.get("description", "")}
    result.diagnostics["reference"] = rec
    if not result.approximation.draws:
        rec["note"] = "a point estimate has no posterior draws: no per-unit comparison"
        log.info("reference model not fitted: %s", rec["note"])
        return
    log.info("reference model (%s): fitting it to the same table for a per-unit comparison",
             rec["model"])
    t0 = time.perf_counter()
    quiet = thresholds.model_copy(update={"unit_checks": False})
    ck = current_checkpoint()  # a run's reference fit checkpoints beside the main fit's
    sib = ck.sibling(REFERENCE) if ck else None
    with checkpointing(sib.path, sib.inputs) if sib else nullcontext():
        other = fit(table, kind, model=ref, inference=settings, seed=seed, columns=columns,
                    diagnostics=quiet, interval_prob=interval_prob, prepared=prepared,
                    **data_options)
    result.set_comparison(fam.compare_reference(result, other))
    d = other.diagnostics
    rec.update({"passed": bool(d["passed"]), "approximation": d["approximation"]["name"],
                "failed_checks": {k: v["value"] for k, v in d["checks"].items()
                                  if not v["passed"]},
                "seconds": round(time.perf_counter() - t0, 1)})
    if "better_fit" in result.comparison:
        counts = result.comparison["better_fit"].value_counts()
        rec["better_fit"] = {str(k): int(v) for k, v in counts.items()}
        log.info("per-unit comparison with the reference: %s", ", ".join(
            f"{k} {v}" for k, v in rec["better_fit"].items()))
    if not d["passed"]:
        log.warning("the reference fit failed its diagnostics (%s): read its comparison with "
                    "care", ", ".join(rec["failed_checks"]))


def _labels(fam, data) -> dict[str, list[str]]:
    dims, coords = fam.posterior_dims(data)
    return {k: coords[d[0]] for k, d in dims.items() if len(d) == 1 and d[0] in coords}


def _validated(cls, raw: dict, section: str):
    from pydantic import ValidationError

    try:
        return cls.model_validate(raw)
    except ValidationError as err:
        raise ConfigError([Issue("<api>", None, f"{section}." + ".".join(map(str, e["loc"])),
                                 None, "unknown key" if e["type"] == "extra_forbidden"
                                 else e["msg"]) for e in err.errors()]) from None


# ----------------------------------------------------------------------------- config runs
def check_config(cfg: Config) -> tuple[Spec, Any, Any]:
    """Validate a config fully (model spec, data, contrasts) without fitting."""
    issues: list = []
    spec: Spec | None = None
    try:
        spec = _spec(cfg.model, cfg.data.kind)
    except ConfigError as e:
        issues += e.issues
    try:
        vt, data = prepare(cfg.data_table(), kind=cfg.data.kind,
                           columns=cfg.data.columns, **cfg.data.options())
    except ConfigError as e:
        raise ConfigError(issues + e.issues) from None
    if issues:
        raise ConfigError(issues)
    assert spec is not None  # _spec raised otherwise
    fam = family_for_kind(cfg.data.kind)
    fam.validate_contrasts(data, cfg.contrasts, cfg.source or "<config>")
    spec_fam = get_family(spec.family)
    if spec_fam.kind == cfg.data.kind and spec_fam.check_spec:
        spec_fam.check_spec(spec, data, cfg.source or "<config>")
    get_backend(cfg.inference.method).check_supports(
        spec, lambda: spec_fam.arrays(data) if spec_fam.kind == cfg.data.kind else None,
        cfg.source or "<config>")
    return spec, vt, data


def run_config(cfg: Config, prepared: tuple[Any, Any] | None = None,
               inputs: dict[str, Any] | None = None) -> tuple[FitResult, Path]:
    """Fit one config and write its run directory atomically.

    ``prepared`` is the config's validated and encoded table (from :func:`check_config`), so
    a batch reads each table once; ``inputs`` its :func:`~drugbayes.outputs.inputs_fingerprint`
    taken before the fit (recorded in the manifest; default: taken now, before the fit).

    The run directory is assembled in a temporary sibling folder and renamed into place at the
    end, so a run killed midway never leaves a folder that looks complete.
    """
    out = cfg.resolved_output_dir()
    problems = output_dir_issues([cfg])
    if problems:
        from .errors import InputError

        raise InputError(problems, title="run directory refused (nothing was run)")
    if inputs is None:
        inputs = inputs_fingerprint(cfg)
    # a back-end with [inference] checkpoint_every writes here, beside the run directory, and
    # a rerun with the same inputs continues from it; removed once the run directory is in place
    ck = checkpointing(out.parent / f".{out.name}.checkpoint.npz", inputs["hash"])
    with ck as checkpoint, assembling(out) as tmp, logging_to(tmp / "run.log"):
        log.info("drugbayes %s: run %s (config %s)", __version__, cfg.run.name or out.name,
                 cfg.source)
        t0 = time.perf_counter()
        result = fit(cfg.data_table(), cfg.data.kind, model=cfg.model,
                     inference=cfg.inference, seed=cfg.run.seed, columns=cfg.data.columns,
                     contrasts=cfg.contrasts, diagnostics=cfg.diagnostics,
                     interval_prob=cfg.report.interval_prob, prepared=prepared,
                     **cfg.data.options())
        # looked up in this module, so that tests can replace it here
        write_run_directory(result, cfg, tmp, t0, inputs)
    remove_checkpoint(checkpoint)
    remove_checkpoint(checkpoint.sibling(REFERENCE))
    if not result.diagnostics["passed"] and cfg.diagnostics.on_fail == "error":
        raise DiagnosticsError(f"diagnostics failed for {out} (see diagnostics.json)")
    if not result.diagnostics["passed"]:
        import warnings

        warnings.warn(f"diagnostics failed for {out.name} (see {out / 'diagnostics.json'})",
                      DiagnosticsWarning, stacklevel=2)
    return result, out
