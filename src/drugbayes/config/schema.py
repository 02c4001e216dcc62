"""The pydantic models of a run config: one TOML file, unknown keys are errors.

A config holds one run. Paths are relative to the config file. The ``[inference]`` table is
flat (the keys of every back-end side by side, as users write them); which keys each back-end
reads, and which back-ends exist, is declared by the back-end registry
(:mod:`drugbayes.inference.registry`), which validates ``inference.method``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from ..errors import ConfigError, Issue


def kind_keys() -> dict[str, tuple[str, ...]]:
    """The flat ``[data]`` keys of each kind, from the family registry (``path``, ``kind``,
    ``missing`` and ``columns`` are common to all)."""
    from ..families import REGISTRY

    out: dict[str, tuple[str, ...]] = {}
    for fam in REGISTRY.values():
        out.setdefault(fam.kind, fam.data_keys)
    return out


def block_kinds() -> dict[str, tuple[str, ...]]:
    """The kinds that read named data blocks (``[data.<kind>]``) and the block kinds each
    reads, from the family registry."""
    from ..families import REGISTRY

    out: dict[str, tuple[str, ...]] = {}
    for fam in REGISTRY.values():
        if fam.data_blocks:
            out.setdefault(fam.kind, fam.data_blocks)
    return out


def _default_kind() -> str:
    from ..families import kinds

    return kinds()[0]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunConfig(_Strict):
    """``[run]``: name, output folder, seed and the GPUs a run is given in a Ray batch."""

    name: str | None = None
    output_dir: str | None = None
    seed: int = 0
    gpus: float = Field(0.0, ge=0, allow_inf_nan=False,
                        description="GPUs each run of this config is given as a Ray task "
                        "(`--executor ray`; 1 on GPU nodes, a fraction to share one); local "
                        "runs use the GPUs the process sees. Not part of the inputs hash")


FilterValue = str | int | float


class DataFilter(_Strict):
    """``[data.filter]``: rows kept or dropped by column values, before validation."""

    keep: dict[str, list[FilterValue]] = Field(default_factory=dict)
    drop: dict[str, list[FilterValue]] = Field(default_factory=dict)


READING_PATH_KEYS = ("layout", "readings")


class PredictEntry(_Strict):
    """``[[predict]]``: a cell line x arm to predict (for a kind that makes predictions)."""

    cell_line: str
    arm: str


class DataConfig(_Strict):
    """``[data]``: the input table and how to read it.

    The reading keys (``format``, ``sheet``, ``layout``, ``readings``, ``exclude``,
    ``melt_headers``, ``date_format``, ``day_zero``, ``[data.filter]``) apply to every kind:
    they turn the lab's files into the canonical long table (:mod:`drugbayes.data.readers`).
    """

    path: str | None = None
    kind: str = Field(default_factory=_default_kind, description="a registered data kind")
    missing: Literal["drop", "error"] = "drop"
    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    # reading (every kind)
    format: Literal["table", "plate"] = Field("table", description="table: one long table "
                                              "(CSV, Parquet, .xlsx); plate: plate-reader "
                                              "exports joined with a layout")
    sheet: str | None = Field(None, description="the .xlsx sheet of path (or of the layout)")
    header_row: int | None = Field(None, ge=1, description="the header's line (CSV) or row "
                                   "(.xlsx); lines above it are skipped (default: line 1 of a "
                                   "CSV, the first non-empty row of a sheet)")
    layout: str | None = Field(None, description="plate: the layout file (well -> sample, "
                               "drug, dose, role)")
    readings: list[str | dict[str, str]] = Field(
        default_factory=list, description="plate: the plate-reader exports, each a path or "
        "{ path, sheet, plate, <column> = <value for the whole plate> }")
    exclude: list[str] = Field(default_factory=list, description="plate: wells left out "
                               "(C5, P1:C5, or \"edges\")")
    melt_headers: str = Field("replicate", description="the column that receives the names "
                              "of melted wide-sheet columns (replicate, dose, day, ...)")
    date_format: str | None = Field(None, description="strptime format of a date column "
                                    "(default %Y-%m-%d)")
    day_zero: str | dict[str, dict[str, str]] | None = Field(
        None, description="the date of day 0: a date, \"first\" (each mouse's first date), "
        "or { arm = { <arm> = <date> } } / { mouse = { ... } }")
    filter: DataFilter = Field(default_factory=DataFilter)
    blocks: dict[str, DataConfig] = Field(
        default_factory=dict, description="named data blocks, written [data.<kind>] (each a "
        "[data] table of that kind), for a kind that reads several tables together")
    _base_dir: str | None = PrivateAttr(None)
    # dose_response
    dose_unit: Literal["M", "mM", "uM", "nM", "pM"] = "M"
    response_scale: Literal["fraction", "percent", "raw", "rate", "gr"] = "fraction"
    rate_unit: str | None = Field(None, description="with response_scale = \"rate\" "
                                  "(growth rates such as DIP rates): their unit, e.g. 1/h")
    min_doses: int = Field(3, ge=1, description="dose_response: per curve; combination: "
                           "monotherapy doses per drug and matrix")
    # xenograft
    volume_constant: float = Field(0.5, gt=0, le=1, description="V = c * L * W^2")
    control_arm: str | None = None
    detection_limit: float | None = Field(None, gt=0, description="mm3; default "
                                          "volume_constant * caliper_resolution**3")
    caliper_resolution: float = Field(1.0, gt=0, description="smallest measurable tumour "
                                      "diameter, mm")
    start_day: float | None = None
    tc_day: float | None = Field(None, gt=0)
    target_volume: float = Field(1000.0, gt=0)
    select: dict[str, list[str]] | None = Field(
        None, description="xenograft: keep only these values of arm, cell_line, experiment or "
        "mouse, e.g. {arm = [\"untreated\", \"trastuzumab\"]}")
    # kinds that read named blocks
    aliases: dict[str, str] = Field(default_factory=dict, description="a name used in a "
                                    "block -> the level it means (\"BT-474\" = \"BT474\"), "
                                    "for cell lines and drugs")
    arm_drugs: dict[str, list[str]] = Field(
        default_factory=dict, description="xenograft arm -> the in-vitro drugs it gives "
        "(vehicle = [])")
    dose_units: dict[str, str] = Field(
        default_factory=dict, description="drug -> its dose unit where drugs differ "
        "(trastuzumab = \"ug/mL\", lapatinib = \"uM\"): molar (M, mM, uM, nM, pM) or mass "
        "(mg/mL, ug/mL, ng/mL, pg/mL) concentrations, the unit of the drug's doses and results "
        "in every block")
    predict: list[PredictEntry] = Field(
        default_factory=list, description="written [[predict]] at the top level: cell line x "
        "arm entries to predict")

    @model_validator(mode="before")
    @classmethod
    def _named_blocks(cls, raw: Any) -> Any:
        """``[data.<kind>]`` tables become ``blocks``; without ``kind``, the kind is the first
        registered one that reads all those blocks."""
        if not isinstance(raw, dict):
            return raw
        readers = block_kinds()
        names = {k for k in kind_keys() if k not in readers}
        named = {k: v for k, v in raw.items() if k in names and isinstance(v, dict)}
        given = raw.get("blocks")
        if not named and not (isinstance(given, dict) and given):
            return raw
        out = {k: v for k, v in raw.items() if k not in named}
        blocks = {k: ({"kind": k, **v} if isinstance(v, dict) else v)
                  for k, v in (given.items() if isinstance(given, dict) else ())}
        blocks.update({k: {"kind": k, **v} for k, v in named.items()})
        out["blocks"] = blocks
        if "kind" not in out:
            fits = [k for k, reads in readers.items() if set(blocks) <= set(reads)]
            if fits:
                out["kind"] = fits[0]
        return out

    @model_validator(mode="after")
    def _blocks_of_kind(self) -> DataConfig:
        reads = block_kinds().get(self.kind, ())
        if self.blocks and not reads:
            raise ValueError(f"named data blocks ({', '.join(self.blocks)}) need a kind that "
                             f"reads them ({', '.join(block_kinds()) or 'none registered'}); "
                             f"kind {self.kind!r} reads one table")
        if reads:
            bad = [k for k in self.blocks if k not in reads]
            if bad:
                raise ValueError(f"data block(s) {', '.join(bad)} are not read by kind "
                                 f"{self.kind!r} (it reads {', '.join(reads)})")
            for name, b in self.blocks.items():
                if b.kind != name:
                    raise ValueError(f"[data.{name}] has kind {b.kind!r}: a block's kind is "
                                     "its name")
                if b.blocks:
                    raise ValueError(f"[data.{name}] cannot hold named blocks itself")
            if not self.blocks:
                raise ValueError(f"kind {self.kind!r} reads named data blocks: give "
                                 + ", ".join(f"[data.{k}]" for k in reads))
            if self.path is not None:
                raise ValueError(f"kind {self.kind!r} reads its blocks' paths, not [data] path")
        return self

    def set_base_dir(self, base_dir: str | None) -> None:
        """The config's folder, against which this table's (and its blocks') paths
        resolve."""
        self._base_dir = base_dir
        for b in self.blocks.values():
            b.set_base_dir(base_dir)

    @model_validator(mode="after")
    def _keys_of_kind(self) -> DataConfig:
        keys_of = kind_keys()
        if self.kind not in keys_of:
            raise ValueError(f"unknown kind {self.kind!r}; expected one of "
                             f"{', '.join(keys_of)}")
        own = set(keys_of[self.kind])
        foreign = sorted({k for kind, keys in keys_of.items() if kind != self.kind
                          for k in keys if k in self.model_fields_set and k not in own})
        if foreign:
            raise ValueError(f"key(s) {', '.join(foreign)} do not apply to kind "
                             f"{self.kind!r} (its keys: {', '.join(keys_of[self.kind])})")
        return self

    def options(self) -> dict[str, Any]:
        """The kind's flat keys plus ``missing`` and the reading keys that are set (what
        ``prepare`` takes); ``layout`` and ``readings`` paths resolved against the config's
        folder."""
        keys = ("format", "sheet", "header_row", "layout", "readings", "exclude", "melt_headers",
                "date_format", "day_zero", "filter")
        reading: dict[str, Any] = {k: getattr(self, k) for k in keys
                                   if k in self.model_fields_set}
        if "filter" in reading:
            reading["filter"] = self.filter.model_dump()
        if self.layout is not None:
            reading["layout"] = str(self.resolve(self.layout))
        if self.readings:
            reading["readings"] = [
                str(self.resolve(r)) if isinstance(r, str)
                else {**r, **{k: str(self.resolve(r[k])) for k in ("path", "layout") if k in r}}
                for r in self.readings]
        out = {"missing": self.missing,
               **{k: getattr(self, k) for k in kind_keys()[self.kind]}, **reading}
        if self.blocks:  # a block's keys as given (a reader may ask which were set)
            own = kind_keys()
            out["blocks"] = {name: {"kind": name, "columns": dict(b.columns),
                                    **{k: v for k, v in b.options().items()
                                       if k not in own[b.kind] or k in b.model_fields_set},
                                    **({"path": str(b.resolve(b.path))} if b.path else {})}
                             for name, b in self.blocks.items()}
        return out

    def resolve(self, path: str) -> Path:
        """``path`` resolved against the config's folder (where the config came from a
        file)."""
        p = Path(path)
        return p if p.is_absolute() or not self._base_dir else Path(self._base_dir) / p

    @model_validator(mode="after")
    def _plate_keys(self) -> DataConfig:
        if self.format == "plate":
            if self.path is not None:
                raise ValueError("format = \"plate\" reads layout and readings, not path")
            if self.layout is None and not all(isinstance(r, dict) and "layout" in r
                                               for r in self.readings):
                raise ValueError("format = \"plate\" needs layout = \"<layout file>\" (or a "
                                 "layout in every readings entry)")
            if not self.readings:
                raise ValueError("format = \"plate\" needs readings = [\"<export>\", ...]")
            for r in self.readings:
                if isinstance(r, dict) and "path" not in r:
                    raise ValueError(f"readings entry {r} has no path")
        else:
            set_ = sorted(k for k in ("layout", "readings", "exclude")
                          if k in self.model_fields_set)
            if set_:
                raise ValueError(f"key(s) {', '.join(set_)} apply to format = \"plate\"")
        return self


class ModelConfig(_Strict):
    """``[model]``: a preset and/or a family with options and priors."""

    preset: str | None = None
    family: str | None = None
    description: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    priors: dict[str, Any] = Field(default_factory=dict)


def _default_method() -> str:
    from ..inference.registry import BACKENDS

    return next(iter(BACKENDS))


class InferenceConfig(_Strict):
    """``[inference]``: back-end and its budget (NumPyro argument names where they exist).

    ``method`` names a registered back-end; each back-end declares the keys it reads
    (:attr:`drugbayes.inference.registry.Backend.keys`), the others are ignored by it.
    """

    method: str = Field(default_factory=_default_method,
                        description="a registered back-end (default: the registry's first)")
    num_chains: int = Field(4, ge=1)
    num_warmup: int = Field(500, ge=1)
    num_samples: int = Field(500, ge=1, description="draws per chain after warmup; nuts "
                             "with this key left unset draws 500 and extends (see "
                             "max_num_samples)")
    max_num_samples: int = Field(2000, ge=1, description="nuts with num_samples unset: "
                                 "after 500 draws per chain, more are drawn in chunks, up to "
                                 "this many, while a sampled site has R-hat > 1.01 or bulk or tail "
                                 "ESS < 400")
    chain_method: Literal["vectorized", "parallel", "sequential"] = "vectorized"
    target_accept_prob: float = Field(0.95, gt=0, lt=1)
    max_tree_depth: int = Field(8, ge=1, le=15)
    init: Literal["map", "median"] = "map"
    dense_mass: bool = False
    chunk_size: int = Field(250, ge=1)
    checkpoint_every: int = Field(0, ge=0, description="nuts and screen: write the chains' "
                                  "state and the draws so far every N chunks (0: never; "
                                  "screen: warmup chunks too); a rerun after a kill continues "
                                  "from the last checkpoint")
    thinning: int = Field(1, ge=1)
    num_steps: int = Field(4000, ge=1)
    learning_rate: float = Field(0.01, gt=0)
    guide: Literal["normal", "lowrank"] = "normal"
    map_num_steps: int = Field(500, ge=1)
    map_learning_rate: float = Field(0.05, gt=0)
    laplace: bool = Field(True, description="map: draws of the Laplace approximation at the "
                          "mode (false: point estimates only, intervals and probabilities "
                          "left empty)")
    laplace_draws: int = Field(1000, ge=2, description="map: draws of the Laplace "
                               "approximation")
    screen_curve_steps: int = Field(10, ge=1, le=100)
    screen_drug_steps: int = Field(6, ge=1, le=100)
    screen_global_steps: int = Field(4, ge=1, le=100)
    screen_target_accept: float = Field(0.8, gt=0, lt=1)
    screen_mode_jump: bool = True
    screen_shard: bool = False

    @field_validator("method")
    @classmethod
    def _registered(cls, value: str) -> str:
        from ..inference.registry import method_problem

        problem = method_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


def _unit_checks_default() -> bool:
    """``[diagnostics] unit_checks`` when not given: on, unless the environment variable
    ``DRUGBAYES_UNIT_CHECKS`` is ``0`` (a test suite's many small fits)."""
    import os

    return os.environ.get("DRUGBAYES_UNIT_CHECKS", "1") != "0"


class DiagnosticsConfig(_Strict):
    """``[diagnostics]``: thresholds checked after sampling."""

    max_rhat: float = 1.01
    min_ess_bulk: float = 400.0
    min_ess_tail: float = 400.0
    max_divergences: int = 0
    min_bfmi: float = 0.3
    on_fail: Literal["warn", "error"] = "warn"
    unit_checks: bool = Field(default_factory=_unit_checks_default,
                              description="per-unit posterior predictive checks and "
                              "posterior-to-prior contraction (summary columns ppc_p, misfit, "
                              "contraction, prior_dominated, pooled)")
    ppc_threshold: float = Field(0.05, gt=0, lt=1, description="a unit is misfit when its "
                                 "posterior predictive p-value is below this (posterior "
                                 "predictive p-values of a model that fits gather around "
                                 "0.5, so few well-fitting units fall below it)")
    ppc_draws: int = Field(500, ge=10, description="posterior draws used by the checks")
    contraction_threshold: float = Field(0.2, gt=0, lt=1, description="a quantity is "
                                         "prior-dominated when 1 - posterior var / prior var "
                                         "is below this (pooled: the same against the "
                                         "population's variance)")
    prior_draws: int = Field(1000, ge=10, description="prior-predictive draws for the "
                             "contraction")


PlotFormat = Literal["png", "pdf", "svg"]


def _default_formats() -> list[PlotFormat]:
    return ["png"]


TableFormat = Literal["csv", "parquet", "xlsx"]


def _default_tables() -> list[TableFormat]:
    return ["csv"]


class ReportConfig(_Strict):
    """``[report]``: interval probability, plots (``formats``: their file formats; per-unit
    figures capped), what ``posterior.nc`` holds, the HTML report and the file formats of the
    tables (``tables``: CSV always, Parquet and Excel on request; a table format named in
    ``formats`` is added to ``tables``)."""

    interval_prob: float = Field(0.95, gt=0, lt=1)
    plots: bool = True
    formats: list[PlotFormat] = Field(default_factory=_default_formats)
    max_unit_plots: int = Field(50, ge=0, description="per-unit figures written at most (the "
                                "others are listed in run.log); the overview figures always")
    store_well_draws: bool = Field(False, description="keep per-well draws (fitted surfaces, "
                                   "per-well excesses) in posterior.nc; their summaries are "
                                   "always written")
    html: bool = True
    tables: list[TableFormat] = Field(default_factory=_default_tables)

    @model_validator(mode="before")
    @classmethod
    def _table_formats_in_formats(cls, data: Any) -> Any:
        """``formats`` may also name table formats (``formats = ["png", "parquet", "xlsx"]``):
        those are written as tables (with ``summary.csv``, which is always written), the rest
        are the plots' formats (``png`` when none is named)."""
        if not isinstance(data, dict) or not isinstance(data.get("formats"), list):
            return data
        table_kinds = {"csv", "parquet", "xlsx"}
        named = data["formats"]
        tabular = [f for f in named if f in table_kinds]
        if not tabular:
            return data
        plots = [f for f in named if f not in table_kinds]
        tables = list(data.get("tables") or _default_tables())
        return {**data, "formats": plots or _default_formats(),
                "tables": list(dict.fromkeys(["csv", *tables, *tabular]))}

    @field_validator("tables")
    @classmethod
    def _csv_always(cls, v: list[TableFormat]) -> list[TableFormat]:
        if "csv" not in v:
            raise ValueError("summary.csv is always written (reports and tools read it): "
                             'list "csv" and add "parquet" and/or "xlsx"')
        if "xlsx" in v:
            import importlib.util

            if importlib.util.find_spec("openpyxl") is None:
                raise ValueError('"xlsx" tables need the openpyxl package (pip install openpyxl)')
        return list(dict.fromkeys(v))


class Config(_Strict):
    """A whole run config (one TOML file)."""

    run: RunConfig = Field(default_factory=RunConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)
    diagnostics: DiagnosticsConfig = Field(default_factory=DiagnosticsConfig)
    contrasts: list[dict[str, Any]] = Field(default_factory=list)
    report: ReportConfig = Field(default_factory=ReportConfig)

    # not part of the file: where it came from
    source: str | None = Field(default=None, exclude=True)
    base_dir: str | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _predict_with_the_data(cls, raw: Any) -> Any:
        """Top-level ``[[predict]]`` entries are read with the data (``data.predict``: the
        kind's reader checks them against the data's levels with every other problem)."""
        if not isinstance(raw, dict) or "predict" not in raw:
            return raw
        out = {k: v for k, v in raw.items() if k != "predict"}
        data = out.get("data", {})
        if isinstance(data, dict):
            if "predict" in data:
                raise ValueError("predictions given twice: write them once, as [[predict]]")
            out["data"] = {**data, "predict": raw["predict"]}
        return out

    def resolved_data_path(self) -> Path:
        """The data path, resolved against the config's folder."""
        if self.data.path is None and self.data.format == "plate":
            first = self.data.readings[0] if self.data.readings else ""
            lay = self.data.layout or (first.get("layout") if isinstance(first, dict) else None)
            if lay:
                return self.data.resolve(lay)
        if self.data.path is None:
            raise ConfigError([Issue(self.source or "<config>", None, "data.path", None,
                                     "a data path is required")])
        p = Path(self.data.path)
        if not p.is_absolute() and self.base_dir:
            p = Path(self.base_dir) / p
        return p

    def data_table(self) -> Path | None:
        """The table ``prepare`` reads: the resolved data path, or None where the data are
        named blocks (each block names its own files)."""
        return None if self.data.blocks else self.resolved_data_path()

    def resolved_data_paths(self) -> dict[str, Any]:
        """The ``[data]`` keys that name files, resolved against the config's folder: ``path``,
        or ``layout`` and ``readings`` (``format = "plate"``); with named blocks,
        ``{"blocks": {name: those keys}}``."""
        if self.data.blocks:
            out = {}
            for name, b in self.data.blocks.items():
                sub = Config(data=b, source=self.source, base_dir=self.base_dir)
                sub.data.set_base_dir(self.base_dir)
                out[name] = sub.resolved_data_paths()
            return {"blocks": out}
        if self.data.format != "plate":
            return {"path": str(self.resolved_data_path())}
        opts = self.data.options()
        return {k: opts[k] for k in ("layout", "readings") if k in opts}

    def resolved_output_dir(self) -> Path:
        """The run directory (default ``results/<name>`` next to the config)."""
        name = self.run.name or (Path(self.source).stem if self.source else "run")
        base = Path(self.base_dir) if self.base_dir else Path.cwd()
        if self.run.output_dir is None:
            return base / "results" / name
        p = Path(self.run.output_dir)
        return p if p.is_absolute() else base / p

    def to_toml_dict(self) -> dict[str, Any]:
        """The config as plain data (for ``config.resolved.toml``), ``None`` values removed
        (and the named-block keys where empty, so a one-table config reads as before)."""
        out = _drop_none(self.model_dump(mode="json"))
        for table in (out["data"], *out["data"].get("blocks", {}).values()):
            _drop_foreign_keys(table)
            for k in BLOCK_READER_KEYS:
                if not table.get(k):
                    table.pop(k, None)
        predict = out["data"].pop("predict", None)
        if predict:
            out["predict"] = predict  # written [[predict]], as read
        return out

    def config_hash(self) -> str:
        """SHA-256 of the resolved config (first 16 hex digits)."""
        blob = json.dumps(self.to_toml_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


BLOCK_READER_KEYS = ("blocks", "aliases", "arm_drugs", "dose_units", "predict")
"""``[data]`` keys of the kinds that read named blocks, left out of a resolved config where
empty (so that a one-table config reads as before)."""


def _drop_foreign_keys(data: dict[str, Any]) -> None:
    """Remove from a dumped ``[data]`` table the flat keys of the other kinds and the empty
    plate keys of a table that is not a plate (their defaults): a resolved config must load
    again, and the loader refuses keys that do not apply."""
    if data.get("format") != "plate":
        for k in ("layout", "readings", "exclude"):
            if not data.get(k):
                data.pop(k, None)
    keys_of = kind_keys()
    own = set(keys_of.get(data.get("kind", ""), ()))
    for kind, keys in keys_of.items():
        for k in keys:
            if kind != data.get("kind") and k not in own:
                data.pop(k, None)


def _drop_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_none(v) for v in obj]
    return obj


