"""Run directories: what counts as one, writing one, and replacing one only with a complete
new one.

A *run directory* is a folder drugbayes wrote: it holds a ``manifest.json`` with
``"complete": true`` and nothing but the files that manifest lists (plus the manifest itself and
the ``plots/`` folder's listed figures). Anything else at an output path (a user's folder of
notes, a file, a symbolic link, a run directory someone added files to) is never deleted or
overwritten: the run stops before fitting with an input error (exit code 2).
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import Config, dump_toml
from .errors import Issue

if TYPE_CHECKING:
    from .results import FitResult

__all__ = ["assembling", "finished_run_problem", "input_files", "inputs_fingerprint",
           "logging_to", "output_dir_issues", "output_dir_problem", "replace_dir",
           "write_run_directory"]

log = logging.getLogger("drugbayes")


def output_dir_problem(out: Path) -> str | None:
    """Why ``out`` may not receive a run directory, or ``None`` where it may.

    ``out`` may receive one when it does not exist, is an empty folder, or is a complete
    drugbayes run directory holding only the files its manifest lists.

    Parameters
    ----------
    out : Path
        The intended run directory.

    Returns
    -------
    str or None
        What is wrong, in words, or ``None``.
    """
    out = Path(out)
    if out.is_symlink():
        return "exists and is a symbolic link, not a drugbayes run directory; not replaced"
    if not out.exists():
        return None
    if not out.is_dir():
        return "exists and is a file, not a drugbayes run directory; not replaced"
    entries = {p.name for p in out.iterdir()}
    if not entries:
        return None
    manifest = out / "manifest.json"
    try:
        m = json.loads(manifest.read_text())
        listed = set(m["files"]) if m.get("complete") is True else None
    except (OSError, ValueError, KeyError, TypeError):
        listed = None
    if listed is None:
        return ("exists and is not a drugbayes run directory (no complete manifest.json); "
                "it is never deleted or overwritten: choose another run.output_dir or "
                "remove it yourself")
    top = {f for f in listed if "/" not in f} | {"manifest.json", "plots"}
    plots = {f.split("/", 1)[1] for f in listed if f.startswith("plots/")}
    extra = sorted(entries - top)
    pdir = out / "plots"
    if pdir.is_dir() and not pdir.is_symlink():
        extra += sorted(f"plots/{p.name}" for p in pdir.iterdir() if p.name not in plots)
    elif pdir.exists() or pdir.is_symlink():
        extra.append("plots")
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        return (f"is a drugbayes run directory holding files its manifest does not list "
                f"({shown}); not replaced: move them out or choose another run.output_dir")
    return None


def input_files(cfg: Config) -> list[Path]:
    """Every file the config reads: ``[data] path``, or a plate config's layout(s) and
    reading exports, resolved against the config's folder, in order, each once."""
    files: list[str] = []
    for paths in (cfg.resolved_data_paths().get("blocks") or {"": cfg.resolved_data_paths()}
                  ).values():
        files += _paths_files(paths)
    return [Path(f) for f in dict.fromkeys(str(f) for f in files)]


def _paths_files(paths: dict[str, Any]) -> list[str]:
    """The files named by one table's resolved data paths."""
    files: list[str] = []
    if "path" in paths:
        files.append(paths["path"])
    if "layout" in paths:
        files.append(paths["layout"])
    for r in paths.get("readings", []):
        if isinstance(r, dict):
            files += [r[k] for k in ("path", "layout") if k in r]
        else:
            files.append(r)
    return files


def _merge(into: dict, paths: dict) -> None:
    """Put resolved paths into a dumped ``[data]`` table (named blocks: into each block)."""
    for k, v in paths.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def inputs_fingerprint(cfg: Config) -> dict[str, Any]:
    """What a run's results depend on, hashed: the resolved config (the model's preset merged
    in, data paths and run directory absolute), the contents of every input file
    (:func:`input_files`) and the drugbayes version.

    Recorded in the manifest as ``"inputs"``; a batch skips a run whose finished run directory
    records the same ``hash`` (:func:`finished_run_problem`).

    Returns
    -------
    dict
        ``{"config": sha256, "data": {path: sha256}, "drugbayes": version, "hash": sha256 of
        the three}`` (hex digests).
    """
    from . import __version__
    from .config import resolve_model

    resolved = cfg.to_toml_dict()
    _merge(resolved["data"], cfg.resolved_data_paths())
    resolved["run"]["output_dir"] = str(cfg.resolved_output_dir())
    resolved["run"].pop("gpus", None)  # where a run is placed, not what it computes
    try:  # the preset's contents, not only its name
        resolved["model"] = resolve_model(cfg.model, cfg.data.kind).model_dump(mode="json")
    except Exception:  # noqa: BLE001 - an invalid model fails in check_config, not here
        pass
    config = hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str).encode())
    data = {str(p): _file_sha256(p) for p in input_files(cfg)}
    whole = {"config": config.hexdigest(), "data": data, "drugbayes": __version__}
    return {**whole, "hash": hashlib.sha256(json.dumps(whole, sort_keys=True).encode())
            .hexdigest()}


def finished_run_problem(out: Path, inputs: dict[str, Any]) -> str | None:
    """Why the run directory ``out`` is not a finished run of these ``inputs``
    (:func:`inputs_fingerprint`), or ``None`` where it is (a batch then skips the run).

    Finished means: a complete manifest recording the same inputs hash, every file it lists
    present and nothing else in the folder.
    """
    from .report.rundir import read_manifest

    out = Path(out)
    if not out.is_dir() or out.is_symlink() or not any(out.iterdir()):
        return "no run directory yet"
    m = read_manifest(out)
    if m is None or output_dir_problem(out) is not None:
        return "not a finished run directory"
    missing = [f for f in m["files"] if not (out / f).exists()]
    if missing:
        return f"files missing from the run directory ({', '.join(missing[:3])})"
    old = m.get("inputs")
    if not isinstance(old, dict) or "hash" not in old:
        return "its manifest records no inputs hash (an older run)"
    if old["hash"] == inputs["hash"]:
        return None
    why = []
    if old.get("drugbayes") != inputs["drugbayes"]:
        why.append(f"drugbayes {old.get('drugbayes')} -> {inputs['drugbayes']}")
    if old.get("config") != inputs["config"]:
        why.append("the config changed")
    old_data: dict = old["data"] if isinstance(old.get("data"), dict) else {}
    changed = [Path(p).name for p, h in inputs["data"].items() if old_data.get(p) != h]
    changed += [Path(p).name for p in old_data if p not in inputs["data"]]
    if changed:
        why.append(f"data changed ({', '.join(dict.fromkeys(changed))})")
    return "; ".join(why) or "its inputs changed"


def replace_dir(tmp: Path, out: Path) -> None:
    """Move the complete run directory ``tmp`` to ``out``, replacing an old run directory.

    The old directory is checked again just before it is moved aside (a user may have written
    into it while the fit ran); it is deleted only after the new one is in place.

    Raises
    ------
    FileExistsError
        ``out`` is not something :func:`output_dir_problem` allows to be replaced; ``tmp`` is
        left where it is, so nothing is lost.
    """
    problem = output_dir_problem(out)
    if problem is not None:
        raise FileExistsError(f"{out} {problem} (the finished run is kept in {tmp})")
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}-{time.time_ns()}"
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


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


_HOST = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"


def _remove_stale_temporaries(out: Path) -> None:
    """Delete ``out``'s temporary siblings left by runs killed on this host (``kill -9``,
    power loss): ``.<name>.incomplete-<pid>@<host>-*`` whose process is gone. Those of
    another host or of a live process are left alone."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.incomplete-(\d+)@(.+)-[a-z0-9_]+")
    for p in out.parent.glob(f".{glob.escape(out.name)}.incomplete-*"):
        m = pattern.fullmatch(p.name)
        if m is None or m.group(2) != _HOST or not p.is_dir() or p.is_symlink():
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue  # alive (or a reused pid): maybe a run under way
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # another user's live process
        log.info("removing %s (left by a run that was killed)", p)
        shutil.rmtree(p, ignore_errors=True)


@contextmanager
def assembling(out: Path) -> Iterator[Path]:
    """Assemble a run directory in a hidden temporary sibling of ``out``, then move it in.

    Yields the temporary folder (``.<name>.incomplete-<pid>@<host>-*``). On success it replaces
    ``out`` (:func:`replace_dir`); on any exception (an interrupt included) it is deleted, so a
    run killed or failing midway never leaves a folder that looks complete. Temporary folders
    of killed runs of this host are deleted first.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.incomplete-{os.getpid()}@{_HOST}-",
                                dir=out.parent))
    try:
        yield tmp
    except BaseException:
        while tmp.exists():  # a second interrupt during the clean-up does not stop it
            try:
                shutil.rmtree(tmp, ignore_errors=True)
            except KeyboardInterrupt:
                continue
        raise
    replace_dir(tmp, out)


@contextmanager
def logging_to(path: Path, logger: logging.Logger = log) -> Iterator[None]:
    """Copy ``logger``'s messages (INFO and up) into the file ``path`` while the block runs."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    prev_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.setLevel(prev_level)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_run_directory(result: FitResult, cfg: Config, folder: Path, t0: float,
                        inputs: dict[str, Any] | None = None) -> None:
    """Write posterior.nc, summary.csv, diagnostics.json, plots, config, manifest and report.

    Parameters
    ----------
    result : FitResult
    cfg : Config
        The run's config (written resolved as ``config.resolved.toml``).
    folder : Path
        An existing, empty folder.
    t0 : float
        ``time.perf_counter()`` at the start of the run (the manifest's wall time).
    inputs : dict, optional
        The run's :func:`inputs_fingerprint`, taken before the fit (so that a data file
        edited while the run fitted is not recorded as fitted); default: taken now.
    """
    import jax

    from . import __version__

    folder = Path(folder)
    from .report.tables import write_tables

    stages: dict[str, float] = {"fit": time.perf_counter() - t0}
    t = time.perf_counter()
    summary = result.summary()
    stages["summary"] = time.perf_counter() - t
    t = time.perf_counter()
    write_tables(folder, {"summary.csv": summary, **result.extra_tables()}, cfg.report.tables)
    stages["tables"] = time.perf_counter() - t
    t = time.perf_counter()
    _write_posterior(result, cfg, folder / "posterior.nc")
    stages["posterior"] = time.perf_counter() - t
    (folder / "diagnostics.json").write_text(
        json.dumps(result.diagnostics, indent=2, default=_json_default, allow_nan=True))
    (folder / "config.resolved.toml").write_text(dump_toml(_resolved(cfg, result)))
    plots = []
    t = time.perf_counter()
    if cfg.report.plots:
        plots = result.plot(folder / "plots", tuple(cfg.report.formats),
                            cfg.report.max_unit_plots)
    stages["plots"] = time.perf_counter() - t
    log.info("run stages (s): %s", ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    manifest = {
        "drugbayes": __version__, "python": platform.python_version(),
        "versions": _versions(), "device": [str(d) for d in jax.devices()],
        "platform": jax.default_backend(), "seed": cfg.run.seed,
        "config": cfg.source, "config_hash": cfg.config_hash(),
        "inputs": inputs if inputs is not None else inputs_fingerprint(cfg),
        "diagnostics_passed": bool(result.diagnostics["passed"]),
        "method": cfg.inference.method, "timings": result.inference.timings,
        "wall_seconds": time.perf_counter() - t0, "stage_seconds": stages,
        "files": sorted(p.name for p in folder.iterdir()) + [f"plots/{p.name}" for p in plots],
        "plots_not_drawn": list(result.plots_omitted),
        "complete": True,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=_json_default))
    if cfg.report.html:  # built from the files above; lists itself in the manifest
        from .report.html import write_report

        write_report(folder)


def _write_posterior(result: FitResult, cfg: Config, path: Path) -> None:
    """``posterior.nc``: chunked and compressed; per-well draws only with
    ``[report] store_well_draws = true`` (their size is logged before writing)."""
    t0 = time.perf_counter()
    keep = cfg.report.store_well_draws
    post = result.posterior.children["posterior"].to_dataset(inherit=False)
    wells = [v for v in result.well_variables if v in post.data_vars]
    well_mb = sum(post[v].nbytes for v in wells) / 1e6
    tree = result.posterior_to_write(keep)
    total_mb = sum(node.to_dataset(inherit=False).nbytes for node in tree.subtree) / 1e6
    if wells and keep:
        log.info("posterior.nc: writing per-well draws (report.store_well_draws = true): %s, "
                 "%.1f MB of %.1f MB before compression", ", ".join(wells), well_mb, total_mb)
    elif wells:
        log.info("posterior.nc: per-well draws left out (%s, %.1f MB; report.store_well_draws "
                 "= true keeps them); their summaries are in the tables", ", ".join(wells),
                 well_mb)
    log.info("posterior.nc: writing %.1f MB of draws before compression", total_mb)
    result.to_netcdf(path, well_draws=keep)
    log.info("posterior.nc: %.1f MB written in %.1f s", path.stat().st_size / 1e6,
             time.perf_counter() - t0)


def _resolved(cfg: Config, result: FitResult) -> dict:
    """The config as run: the resolved model spec and absolute paths."""
    d = cfg.to_toml_dict()
    d["model"] = {"preset": result.spec.preset or "", "family": result.spec.family,
                  "options": result.spec.options.model_dump(),
                  "priors": result.spec.priors.model_dump()}
    _merge(d["data"], cfg.resolved_data_paths())
    d["run"]["output_dir"] = str(cfg.resolved_output_dir())
    return d


def _versions() -> dict[str, str]:
    """Versions of the numerical packages (for the manifest)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in ("jax", "jaxlib", "numpyro", "arviz-base", "arviz-stats", "xarray", "pandas",
              "numpy"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out
