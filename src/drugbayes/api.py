"""Python API: compose the stages (read -> validate -> encode -> model -> infer -> outputs)."""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import xarray as xr

from . import __version__
from .config import (
    Config,
    DataConfig,
    DiagnosticsConfig,
    InferenceConfig,
    ModelConfig,
    load_config,
    resolve_model,
)
from .diagnostics import check
from .errors import ConfigError, DiagnosticsError, DiagnosticsWarning, Issue
from .families import Spec, family_for_kind, get_family
from .inference.map import run_map
from .inference.nuts import run_nuts
from .inference.settings import InferenceResult, enable_compilation_cache
from .inference.svi import run_svi
from .outputs import output_dir_problem, replace_dir
from .posterior import add_nd_coords, to_datatree

log = logging.getLogger("drugbayes")


@dataclass
class FitResult:
    """Result of :func:`fit`.

    Attributes
    ----------
    posterior : xarray.DataTree
        ArviZ DataTree (posterior, sample_stats, observed_data, constant_data), labelled.
    diagnostics : dict
        Thresholds, pass/fail, offending parameters, divergences, timings.
    data : DoseResponseData or XenograftData
        The encoded data (category names kept).
    spec : Spec
        The validated model spec.
    inference : InferenceResult
        Raw draws and timings of the back-end.
    """

    posterior: xr.DataTree
    diagnostics: dict
    data: Any
    spec: Spec
    inference: InferenceResult
    contrasts: list[dict] = field(default_factory=list)
    interval_prob: float = 0.95
    dropped: list[dict] = field(default_factory=list)
    excluded: list[dict] = field(default_factory=list)
    _summaries: dict = field(default_factory=dict, repr=False)

    def summary(self, interval_prob: float | None = None) -> pd.DataFrame:
        """Tidy summary: one row per group and quantity (plus contrasts).

        Computed once per interval probability (a run writes it and the CLI prints it);
        each call returns a copy.
        """
        prob = interval_prob or self.interval_prob
        if prob not in self._summaries:
            fam = get_family(self.spec.family)
            self._summaries[prob] = fam.summarize(self.data, self.inference.samples,
                                                  self.contrasts, prob, self.inference.method,
                                                  spec=self.spec)
        return self._summaries[prob].copy()

    def to_netcdf(self, path: str | Path) -> Path:
        """Write the DataTree to a netCDF file (h5netcdf engine)."""
        path = Path(path)
        self.posterior.to_netcdf(path, engine="h5netcdf")
        return path

    def loo(self, pointwise: bool = False):
        """PSIS-LOO (``arviz_stats.loo``) on the DataTree's ``log_likelihood`` group.

        The unit is the family's (xenograft: a mouse, its whole series). Compare presets
        fitted to the same table with :func:`arviz_stats.compare`.
        """
        from arviz_stats import loo

        if "log_likelihood" not in self.posterior.children:
            raise ValueError(f"family {self.spec.family!r} records no log-likelihood")
        return loo(self.posterior, pointwise=pointwise)

    def plot(self, folder: str | Path, formats: tuple[str, ...] = ("png",)) -> list[Path]:
        """Write the family's plots into ``folder``; returns the files."""
        fam = get_family(self.spec.family)
        if fam.plot is None:
            return []
        return fam.plot(self, Path(folder), formats)


# ----------------------------------------------------------------------------- stages
def prepare(table: Any, *, kind: str = "dose_response", columns: dict | None = None,
            **options: Any) -> tuple[Any, Any]:
    """Read, validate and encode a table (raises on bad input, listing every problem).

    Parameters
    ----------
    table : path or DataFrame
    kind : {"dose_response", "xenograft", "combination"}
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
    dc = _validated(DataConfig, {"kind": kind, "columns": dict(columns or {}), **options},
                    "data")
    return family_for_kind(dc.kind).prepare(table, dc)


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
    """Run the configured back-end on encoded data."""
    enable_compilation_cache()
    fam = get_family(spec.family)
    arrays = fam.arrays(data)

    def model(observed: bool = True):
        return fam.model(arrays, spec, observed)

    key = jax.random.PRNGKey(seed)
    k_map, k_run = jax.random.split(key)
    det = fam.deterministic_sites
    extra = fam.extra_sites(data) if fam.extra_sites else ()
    # the MAP is taken in non-centred coordinates (a centred hierarchical MAP is degenerate)
    nc_spec = spec
    if hasattr(spec.options, "parameterization"):
        nc_spec = replace(spec, options=spec.options.model_copy(
            update={"parameterization": "noncentered"}))

    def nc_model(observed: bool = True):
        return fam.model(arrays, nc_spec, observed)

    start = fam.map_start(arrays, nc_spec) if fam.map_start else None
    if settings.method == "screen":
        return _run_screen(spec, arrays, settings, seed)
    if settings.method == "map":
        return run_map(nc_model, (), settings, k_map, det + extra, start=start)
    init = None
    t0 = time.perf_counter()
    # NUTS starts from the MAP; so does SVI for families whose optimisation needs a data-driven
    # start (``map_start``; from zeros Adam needs thousands of steps on them)
    if settings.init == "map" and (settings.method == "nuts" or start is not None):
        m = run_map(nc_model, (), settings, k_map, det + extra, start=start)
        values = {k: v[0, 0] for k, v in m.samples.items()}
        init = fam.init_values(values, arrays, spec) if fam.init_values else values
        init = {k: jnp.asarray(v) for k, v in init.items()}
    t_map = time.perf_counter() - t0
    if settings.method == "svi":
        res = run_svi(model, (), settings, k_run, det + extra, start=init)
    else:
        res = run_nuts(model, (), settings, k_run, init)
    res.timings["map_init"] = t_map
    return res


def screen_problems(spec: Spec, arrays: dict | None, source: str = "<config>") -> None:
    """Raise a ConfigError listing why ``inference.method = "screen"`` cannot fit this model
    and data (it fits the ``dose_response`` model with normalised viability, Normal wells and
    at least 2 cell lines and 2 drugs)."""
    problems = []
    if spec.family != "dose_response" or arrays is None:
        problems.append(("model.family", spec.family, "dose_response (the screen back-end "
                         "fits the dose-response model only)"))
    else:
        if arrays["raw"]:
            problems.append(("data.response_scale", "raw", "normalised viability (raw plate "
                             "signal needs method nuts, svi or map)"))
        if spec.options.likelihood != "normal":
            problems.append(("model.options.likelihood", spec.options.likelihood,
                             "normal (Student-t wells need method nuts, svi or map)"))
        if arrays["n_cell"] < 2 or arrays["n_drug"] < 2:
            problems.append(("data", f"{arrays['n_cell']} cell line(s) x {arrays['n_drug']} "
                             "drug(s)", "at least 2 cell lines and 2 drugs (a screen)"))
    if problems:
        raise ConfigError([Issue(source, None, f"inference.method = 'screen': {k}", v, e)
                           for k, v, e in problems])


def _run_screen(spec: Spec, arrays: dict, settings: InferenceConfig,
                seed: int) -> InferenceResult:
    """The screen back-end (``dose_response`` with normalised viability and Normal wells)."""
    from .inference.screen import run_screen

    screen_problems(spec, arrays if spec.family == "dose_response" else None)
    return run_screen(arrays, spec, settings, seed)


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


def fit(table: Any, kind: str = "dose_response", *, model: str | dict | None = None,
        inference: dict | InferenceConfig | None = None, seed: int = 0,
        columns: dict[str, str] | None = None, contrasts: list[dict] | None = None,
        diagnostics: dict | DiagnosticsConfig | None = None, interval_prob: float = 0.95,
        prepared: tuple[Any, Any] | None = None, **data_options: Any) -> FitResult:
    """Fit a model to a long table.

    Parameters
    ----------
    table : path or DataFrame
        CSV/Parquet path or a DataFrame: one row per well (dose-response) or per mouse and
        measurement day (xenograft).
    kind : {"dose_response", "xenograft", "combination"}
        Data kind.
    model : str or dict, optional
        Preset name (``"dose_response/hier_3pl"``) or ``{"preset":..., "options":...,
        "priors":...}``; default: the kind's default preset.
    inference : dict or InferenceConfig, optional
        ``{"method": "nuts" | "svi" | "map" | "screen", "num_chains": 4, ...}``.
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
    for d in vt.dropped:
        log.info("dropped line %s: %s (%s)", d["line"], d["reason"],
                 ", ".join(f"{k} {v}" for k, v in d.items() if k not in ("line", "reason")))
    if vt.dropped:
        log.info("dropped %d row(s) with a missing response", len(vt.dropped))
    log.info("data: %s", fam.describe(vt, data))
    res = infer(spec, data, settings, seed)
    labels = _labels(fam, data)
    diag = check(settings.method, res.samples, res.sample_stats, thresholds, labels, res.info)
    diag["timings"] = {**res.timings, "fit_total": time.perf_counter() - t0}
    diag["dropped_wells"] = {"count": len(vt.dropped), "wells": vt.dropped}
    diag["excluded"] = []
    attrs = {"drugbayes_version": __version__, "family": spec.family,
             "preset": spec.preset or "", "method": settings.method, "seed": seed,
             **{k: v for k, v in getattr(data, "attrs", {}).items()}}
    log_lik = {}
    if fam.pointwise:
        t_pw = time.perf_counter()
        pw = fam.pointwise(data, spec, res.samples)
        log_lik = {k: v for k, v in pw.items() if k.startswith("log_lik_")}
        res.samples.update({k: v for k, v in pw.items() if k not in log_lik})
        diag["timings"]["pointwise"] = time.perf_counter() - t_pw
    tree = _posterior_tree(fam, spec, data, res, attrs, log_lik)
    result = FitResult(tree, diag, data, spec, res, contrasts, interval_prob, vt.dropped)
    if not diag["passed"]:
        msg = "diagnostics failed: " + ", ".join(
            f"{k}={v['value']}" for k, v in diag["checks"].items() if not v["passed"])
        log.warning(msg)
    return result


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
    spec = None
    try:
        spec = _spec(cfg.model, cfg.data.kind)
    except ConfigError as e:
        issues += e.issues
    try:
        vt, data = prepare(cfg.resolved_data_path(), kind=cfg.data.kind,
                           columns=cfg.data.columns, **cfg.data.options())
    except ConfigError as e:
        raise ConfigError(issues + e.issues) from None
    if issues:
        raise ConfigError(issues)
    fam = family_for_kind(cfg.data.kind)
    fam.validate_contrasts(data, cfg.contrasts, cfg.source or "<config>")
    spec_fam = get_family(spec.family)
    if spec_fam.kind == cfg.data.kind and spec_fam.check_spec:
        spec_fam.check_spec(spec, data, cfg.source or "<config>")
    if cfg.inference.method == "screen":
        screen_problems(spec, spec_fam.arrays(data) if spec_fam.kind == cfg.data.kind else None,
                        cfg.source or "<config>")
    return spec, vt, data


def run_config(cfg: Config, prepared: tuple[Any, Any] | None = None
               ) -> tuple[FitResult, Path]:
    """Fit one config and write its run directory atomically.

    ``prepared`` is the config's validated and encoded table (from :func:`check_config`), so
    a batch reads each table once.

    The run directory is assembled in a temporary sibling folder and renamed into place at the
    end, so a run killed midway never leaves a folder that looks complete.
    """
    out = cfg.resolved_output_dir()
    problems = output_dir_issues([cfg])
    if problems:
        from .errors import InputError

        raise InputError(problems, title="run directory refused (nothing was run)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.incomplete-", dir=out.parent))
    handler = logging.FileHandler(tmp / "run.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    prev_level = log.level
    log.setLevel(logging.INFO)
    try:
        log.info("drugbayes %s: run %s (config %s)", __version__, cfg.run.name or out.name,
                 cfg.source)
        t0 = time.perf_counter()
        result = fit(cfg.resolved_data_path(), cfg.data.kind, model=cfg.model,
                     inference=cfg.inference, seed=cfg.run.seed, columns=cfg.data.columns,
                     contrasts=cfg.contrasts, diagnostics=cfg.diagnostics,
                     interval_prob=cfg.report.interval_prob, prepared=prepared,
                     **cfg.data.options())
        write_run_directory(result, cfg, tmp, t0)
    except BaseException:
        log.removeHandler(handler)
        handler.close()
        shutil.rmtree(tmp, ignore_errors=True)
        log.setLevel(prev_level)
        raise
    log.removeHandler(handler)
    handler.close()
    log.setLevel(prev_level)
    replace_dir(tmp, out)
    if not result.diagnostics["passed"] and cfg.diagnostics.on_fail == "error":
        raise DiagnosticsError(f"diagnostics failed for {out} (see diagnostics.json)")
    if not result.diagnostics["passed"]:
        import warnings

        warnings.warn(f"diagnostics failed for {out.name} (see {out / 'diagnostics.json'})",
                      DiagnosticsWarning, stacklevel=2)
    return result, out


def output_dir_issues(cfgs: list[Config]) -> list[Issue]:
    """Problems with the configs' run directories, all at once, before anything runs.

    An output path that exists and is not a drugbayes run directory is refused (it is never
    deleted or overwritten), and so are two configs of one batch writing the same directory.
    """
    issues: list[Issue] = []
    seen: dict[Path, str] = {}
    for cfg in cfgs:
        out = cfg.resolved_output_dir()
        src = cfg.source or "<config>"
        problem = output_dir_problem(out)
        if problem is not None:
            issues.append(Issue(src, None, "run.output_dir", str(out), problem))
        key = Path(os.path.abspath(out))
        if key in seen:
            issues.append(Issue(src, None, "run.output_dir", str(out),
                                f"the same run directory as {seen[key]} in this batch; "
                                "give each config its own run.output_dir or run.name"))
        else:
            seen[key] = src
    return issues


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_run_directory(result: FitResult, cfg: Config, folder: Path, t0: float) -> None:
    """Write posterior.nc, summary.csv, diagnostics.json, plots, config and manifest."""
    folder = Path(folder)
    summary = result.summary()
    summary.to_csv(folder / "summary.csv", index=False)
    fam = get_family(result.spec.family)
    for name, table in (fam.extra_tables(result) if fam.extra_tables else {}).items():
        table.to_csv(folder / name, index=False)
    result.to_netcdf(folder / "posterior.nc")
    (folder / "diagnostics.json").write_text(
        json.dumps(result.diagnostics, indent=2, default=_json_default, allow_nan=True))
    (folder / "config.resolved.toml").write_text(dump_toml(_resolved(cfg, result)))
    plots = []
    if cfg.report.plots:
        plots = result.plot(folder / "plots", tuple(cfg.report.formats))
    manifest = {
        "drugbayes": __version__, "python": platform.python_version(),
        "versions": _versions(), "device": [str(d) for d in jax.devices()],
        "platform": jax.default_backend(), "seed": cfg.run.seed,
        "config": cfg.source, "config_hash": cfg.config_hash(),
        "method": cfg.inference.method, "timings": result.inference.timings,
        "wall_seconds": time.perf_counter() - t0,
        "files": sorted(p.name for p in folder.iterdir()) + [f"plots/{p.name}" for p in plots],
        "complete": True,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=_json_default))


def _resolved(cfg: Config, result: FitResult) -> dict:
    d = cfg.to_toml_dict()
    d["model"] = {"preset": result.spec.preset or "", "family": result.spec.family,
                  "options": result.spec.options.model_dump(),
                  "priors": result.spec.priors.model_dump()}
    d["data"]["path"] = str(cfg.resolved_data_path())
    d["run"]["output_dir"] = str(cfg.resolved_output_dir())
    return d


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in ("jax", "jaxlib", "numpyro", "arviz-base", "arviz-stats", "xarray", "pandas",
              "numpy"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out


def dump_toml(d: dict) -> str:
    """Write a nested dict of plain values as TOML (tables, arrays of tables, scalars)."""
    lines: list[str] = []

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v) if np.isfinite(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_key(k)} = {val(x)}" for k, x in v.items()) + " }"
        return json.dumps(str(v))

    def table(prefix: str, t: dict):
        scalars = {k: v for k, v in t.items() if not isinstance(v, dict)
                   and not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))}
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{_key(k)} = {val(v)}")
        lines.append("")
        for k, v in t.items():
            if isinstance(v, dict):
                table(f"{prefix}.{_key(k)}" if prefix else _key(k), v)
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for x in v:
                    lines.append(f"[[{prefix + '.' if prefix else ''}{_key(k)}]]")
                    for kk, vv in x.items():
                        lines.append(f"{_key(kk)} = {val(vv)}")
                    lines.append("")

    table("", d)
    return "\n".join(lines)


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def run(configs: list[str | Path], overrides: list[str] | None = None,
        on_result=None) -> list[Path]:
    """Run a batch of configs: every config is validated first; nothing starts if one is bad.

    Every config runs even if an earlier one fails its diagnostics with ``on_fail = "error"``;
    :class:`DiagnosticsError` is raised at the end, naming them.

    Parameters
    ----------
    configs : list of paths
    overrides : list of str
        ``section.key=value`` applied to every config.
    on_result : callable(FitResult, Path), optional
        Called after each run (e.g. to print its table).
    """
    cfgs = []
    issues = []
    for c in configs:
        try:
            cfg = load_config(c, overrides)
            _, vt, data = check_config(cfg)
            cfgs.append((cfg, (vt, data)))
        except ConfigError as e:
            issues += e.issues
        except Exception as e:  # DataValidationError is an InputError
            from .errors import InputError

            if isinstance(e, InputError):
                issues += e.issues
            else:
                raise
    issues += output_dir_issues([cfg for cfg, _ in cfgs])
    if issues:
        from .errors import InputError

        raise InputError(issues, title="invalid batch (nothing was run)")
    outs = []
    failed = []
    for cfg, prepared in cfgs:
        try:
            result, out = run_config(cfg, prepared)
        except DiagnosticsError as e:
            failed.append(str(e))
            continue
        outs.append(out)
        if on_result is not None:
            on_result(result, out)
        # each config compiles its own programs (its own model closure); free them, as every
        # XLA:CPU executable holds memory mappings and a long batch would otherwise exhaust
        # the kernel's vm.max_map_count (reruns of the same shapes still hit the disk cache)
        del result
        jax.clear_caches()
    if failed:
        raise DiagnosticsError("; ".join(failed))
    return outs
