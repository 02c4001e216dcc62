"""Self-contained HTML reports of run directories and the index page of an output root.

A report (``report.html`` inside the run directory) is built from the run directory's own
files only (``manifest.json``, ``summary.csv``, ``diagnostics.json``, ``config.resolved.toml``,
``run.log``, ``plots/``), so ``drugbayes report RUN_DIR`` rebuilds it at any time. It needs no
server and no network: plots are inlined as ``data:`` URIs, the style sheet is inline, there
is no script, and a Content-Security-Policy forbids loading anything but inline images. Every
string that comes from a file (names from the data table above all) is HTML-escaped.

The index page (``index.html``) of an output root (the folder that holds a batch's run
directories) links every run directory in it with its pass/fail state. It is the only file
drugbayes writes outside a run directory, and only where that is safe: the root holds nothing
but run directories (hidden entries aside) and either no ``index.html`` or one that drugbayes
wrote (its first line is :data:`INDEX_MARK`). Otherwise the index is skipped and the reason
returned.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import tomllib
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from .rundir import add_to_manifest, read_manifest, write_atomic

__all__ = ["INDEX", "INDEX_MARK", "REPORT", "index_problem", "render_index", "render_report",
           "write_index", "write_indexes", "write_report"]

REPORT = "report.html"
INDEX = "index.html"
INDEX_MARK = "<!-- drugbayes index of run directories: rewritten by drugbayes -->"
MAX_ROWS = 2000  # rows of a table shown in a report; the CSV holds them all
_IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml"}
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#1a1a1a}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#11691b;font-weight:600}.fail{color:#b00020;font-weight:600}
.badge{display:inline-block;padding:.15em .6em;border-radius:.3em;color:#fff}
.badge.pass{background:#11691b;color:#fff}.badge.fail{background:#b00020;color:#fff}
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}
figure{display:inline-block;margin:.5em;vertical-align:top}
figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.85em;color:#555}
.note{color:#555}
"""


# ----------------------------------------------------------------------------- helpers
def _e(value: Any) -> str:
    """HTML-escaped text of ``value`` (quotes included, so it is safe in attributes too)."""
    return escape("" if value is None else str(value), quote=True)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _fmt(v: Any) -> str:
    """A cell's text: numbers to 4 significant digits, missing values empty."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if _is_number(v):
        if isinstance(v, float) and math.isnan(v):
            return ""
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    return str(v)


def _cell(v: Any) -> str:
    """A ``<td>``; numbers carry their full value in ``data-value``."""
    if _is_number(v) and not (isinstance(v, float) and math.isnan(v)):
        return f'<td class="num" data-value="{_e(repr(v))}">{_e(_fmt(v))}</td>'
    return f"<td>{_e(_fmt(v))}</td>"


def _table(rows: list[dict], columns: list[str] | None = None, table_id: str | None = None,
           limit: int = MAX_ROWS, source: str = "", n_total: int | None = None) -> str:
    """An HTML table of dict rows (escaped), at most ``limit`` rows with a note beyond
    (``n_total``: the number of rows where ``rows`` holds only the first ones)."""
    if not rows:
        return '<p class="note">none</p>'
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    ident = f' id="{_e(table_id)}"' if table_id else ""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "\n".join("<tr>" + "".join(_cell(r.get(c)) for c in columns) + "</tr>"
                     for r in rows[:limit])
    more = ""
    n_total = max(len(rows), n_total or 0)
    if n_total > limit:
        more = (f'<p class="note">first {limit} of {n_total} rows shown'
                f'{"; all are in " + _e(source) if source else ""}</p>')
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>{more}"


def _records(df: pd.DataFrame) -> list[dict]:
    out = []
    for row in df.itertuples(index=False):
        out.append({c: (v.item() if hasattr(v, "item") else v)
                    for c, v in zip(df.columns, row)})
    return out


def _read_json(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _read_summary(path: Path) -> pd.DataFrame | None:
    """``summary.csv`` as written (a group named ``NA`` stays a string)."""
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, ValueError):
        return None


def _run_name(run_dir: Path, config: dict) -> str:
    run = config.get("run", {}) if isinstance(config.get("run"), dict) else {}
    if run.get("name"):
        return str(run["name"])
    if run.get("output_dir"):
        return Path(str(run["output_dir"])).name
    return run_dir.name


def _passed(diag: dict | None) -> bool | None:
    if diag is None or not isinstance(diag.get("passed"), bool):
        return None
    return diag["passed"]


def _state(passed: bool | None) -> str:
    if passed is None:
        return '<span class="badge fail">unknown</span>'
    return ('<span class="badge pass">diagnostics passed</span>' if passed
            else '<span class="badge fail">diagnostics FAILED</span>')


# ----------------------------------------------------------------------------- sections
def _headline(summary: pd.DataFrame | None, family: str | None) -> str:
    if summary is None:
        return '<p class="note">summary.csv is missing or unreadable</p>'
    title: str = ""
    quantities: tuple[str, ...] = ()
    if family:
        try:
            from ..families import get_family

            title, quantities = get_family(family).headline
        except Exception:  # noqa: BLE001 (a family this version does not know)
            title, quantities = "", ()
    if "quantity" not in summary.columns:
        return '<p class="note">summary.csv has no quantity column</p>'
    t = summary[summary["quantity"].isin(quantities)] if quantities else summary
    prob = (float(summary["interval_prob"].iloc[0])
            if "interval_prob" in summary.columns and len(summary) else None)
    groups = list(summary.columns[:summary.columns.get_loc("quantity")])
    cols = [c for c in [*groups, "quantity", "unit", "median", "lower", "upper", "censored"]
            if c in t.columns]
    heading = _e(title or "all quantities")
    if prob is not None:
        heading += f" ({prob:.0%} intervals: lower, upper)"
    return (f"<p>{heading}</p>"
            + _table(_records(t[cols].head(MAX_ROWS)), cols, "headline", source="summary.csv",
                     n_total=len(t)))


def _diagnostics(diag: dict | None) -> str:
    if diag is None:
        return '<p class="note">diagnostics.json is missing or unreadable</p>'
    rows = []
    for name, c in (diag.get("checks") or {}).items():
        if not isinstance(c, dict):
            continue
        ok = c.get("passed")
        rows.append({"check": name, "value": c.get("value"), "limit": c.get("limit"),
                     "passed": "yes" if ok else "NO"})
    parts = [_table(rows, ["check", "value", "limit", "passed"], "checks")]
    if diag.get("note"):
        parts.append(f'<p class="note">{_e(diag["note"])}</p>')
    if "divergences" in diag:
        parts.append(f"<p>divergent transitions: {_e(diag['divergences'])}</p>")
    if diag.get("bfmi"):
        parts.append("<p>BFMI per chain: "
                     + _e(", ".join(_fmt(b) for b in diag["bfmi"])) + "</p>")
    offending = [r for r in diag.get("offending") or [] if isinstance(r, dict)]
    n_par = diag.get("n_parameters")
    parts.append(f"<h3>Parameters that fail a threshold ({len(offending)}"
                 + (f" of {_e(n_par)}" if n_par is not None else "") + ")</h3>")
    for r in offending:
        if isinstance(r.get("failed"), list):
            r["failed"] = ", ".join(map(str, r["failed"]))
    parts.append(_table(offending, None, "offending", source="diagnostics.json"))
    return "\n".join(parts)


def _data_section(diag: dict | None, log_text: str | None) -> str:
    parts = []
    described = [ln.split(" data: ", 1)[1] for ln in (log_text or "").splitlines()
                 if " data: " in ln]
    parts.append("<p>" + (_e("; ".join(described)) if described
                          else '<span class="note">no description in run.log</span>') + "</p>")
    diag = diag or {}
    dropped = diag.get("dropped_wells") or {}
    wells = dropped.get("wells") if isinstance(dropped, dict) else None
    wells = [w for w in wells or [] if isinstance(w, dict)]
    parts.append(f"<h3>Dropped rows ({len(wells)})</h3>" + _table(wells, None, "dropped"))
    excluded = [w for w in diag.get("excluded") or [] if isinstance(w, dict)]
    parts.append(f"<h3>Excluded rows ({len(excluded)})</h3>" + _table(excluded, None, "excluded"))
    return "\n".join(parts)


def _versions(manifest: dict) -> str:
    rows = [{"package": "drugbayes", "version": manifest.get("drugbayes")},
            {"package": "python", "version": manifest.get("python")}]
    versions = manifest.get("versions")
    if isinstance(versions, dict):
        rows += [{"package": k, "version": v} for k, v in versions.items()]
    run = [{"item": k, "value": v if not isinstance(v, list | dict) else json.dumps(v)}
           for k, v in manifest.items()
           if k in ("platform", "device", "method", "seed", "config", "config_hash",
                    "wall_seconds")]
    return _table(rows, ["package", "version"], "versions") + _table(run, ["item", "value"],
                                                                        "run")


def _plots(run_dir: Path, manifest: dict) -> str:
    listed = [f for f in manifest.get("files", []) if isinstance(f, str)
              and f.startswith("plots/")]
    by_stem: dict[str, list[str]] = {}
    for f in listed:
        p = Path(f)
        by_stem.setdefault(p.stem, []).append(f)
    figs, skipped = [], []
    for stem, files in by_stem.items():
        # one picture per figure: PNG first, else SVG; other formats (PDF) are linked
        pick = next((f for ext in _IMAGE_TYPES for f in files if f.endswith(ext)), None)
        if pick is None:
            skipped += files
            continue
        path = run_dir / pick
        try:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
        except OSError:
            skipped.append(pick)
            continue
        mime = _IMAGE_TYPES[Path(pick).suffix]
        figs.append(f'<figure><img src="data:{mime};base64,{data}" alt="{_e(stem)}">'
                    f"<figcaption>{_e(pick)}</figcaption></figure>")
    out = "\n".join(figs) if figs else '<p class="note">no plots</p>'
    if skipped:
        out += ('<p class="note">not shown (no PNG or SVG): '
                + ", ".join(f'<a href="{_e(f)}">{_e(f)}</a>' for f in skipped) + "</p>")
    return out


def render_report(run_dir: Path) -> str:
    """The HTML text of a run directory's report (read from its files only).

    Parameters
    ----------
    run_dir : Path
        A complete run directory (its ``manifest.json`` says so).

    Returns
    -------
    str
        A self-contained HTML document.
    """
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir) or {}
    diag = _read_json(run_dir / "diagnostics.json")
    config_text = _read_text(run_dir / "config.resolved.toml")
    try:
        config = tomllib.loads(config_text or "")
    except tomllib.TOMLDecodeError:
        config = {}
    model: dict = config["model"] if isinstance(config.get("model"), dict) else {}
    family = model.get("family")
    log_text = _read_text(run_dir / "run.log")
    name = _run_name(run_dir, config)
    passed = _passed(diag)
    subtitle = ", ".join(_e(x) for x in (
        f"family {family}" if family else None,
        f"preset {model.get('preset')}" if model.get("preset") else None,
        f"method {manifest.get('method')}" if manifest.get("method") else None,
        f"seed {manifest.get('seed')}" if manifest.get("seed") is not None else None) if x)
    body = [
        f"<h1>{_e(name)}</h1>",
        f"<p>{_state(passed)} {subtitle}</p>",
        "<h2>Headline</h2>", _headline(_read_summary(run_dir / "summary.csv"), family),
        "<h2>Diagnostics</h2>", _diagnostics(diag),
        "<h2>Plots</h2>", _plots(run_dir, manifest),
        "<h2>Data</h2>", _data_section(diag, log_text),
        "<h2>Versions and run</h2>", _versions(manifest),
        "<h2>Config (resolved)</h2>",
        f'<pre id="config">{_e(config_text or "config.resolved.toml is missing")}</pre>',
        "<h2>Run log</h2>",
        f'<details><summary>run.log</summary><pre id="log">{_e(log_text or "")}</pre></details>',
    ]
    return _page(f"drugbayes report: {name}", "\n".join(body))


def _page(title: str, body: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_STYLE}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def write_report(run_dir: Path) -> Path:
    """Write ``report.html`` into a run directory and list it in the manifest.

    Parameters
    ----------
    run_dir : Path
        A complete run directory.

    Returns
    -------
    Path
        The report.
    """
    run_dir = Path(run_dir)
    path = run_dir / REPORT
    write_atomic(path, render_report(run_dir))
    add_to_manifest(run_dir, [REPORT])
    return path


# ----------------------------------------------------------------------------- index
def _hidden(p: Path) -> bool:
    return p.name.startswith(".")


def index_problem(root: Path) -> str | None:
    """Why ``root/index.html`` may not be written, or ``None`` where it may.

    It may be written where ``root`` holds only run directories (hidden entries aside) and
    ``index.html`` is absent or was written by drugbayes.
    """
    root = Path(root)
    if not root.is_dir() or root.is_symlink():
        return f"{root} is not a folder"
    others = []
    for p in sorted(root.iterdir()):
        if _hidden(p):
            continue
        if p.name == INDEX:
            if p.is_symlink() or not p.is_file():
                return f"{p} is not a file drugbayes wrote; not replaced"
            with p.open(errors="replace") as f:
                if f.readline().rstrip("\n") != INDEX_MARK:
                    return f"{p} was not written by drugbayes; not replaced"
            continue
        if p.is_symlink() or not p.is_dir() or read_manifest(p) is None:
            others.append(p.name)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more"
                                         if len(others) > 5 else "")
        return (f"{root} holds more than run directories ({shown}); drugbayes writes no "
                "index there (it writes nothing outside run directories but an index of a "
                "folder of run directories)")
    return None


def render_index(root: Path) -> str:
    """The HTML text of the index of the run directories in ``root``."""
    root = Path(root)
    rows = []
    n_fail = 0
    for p in sorted(root.iterdir()):
        if _hidden(p) or p.is_symlink() or not p.is_dir():
            continue
        manifest = read_manifest(p)
        if manifest is None:
            continue
        passed = _passed(_read_json(p / "diagnostics.json"))
        n_fail += passed is not True
        has_report = REPORT in manifest["files"] and (p / REPORT).is_file()
        href = f"{p.name}/{REPORT}"
        link = (f'<a href="{_e(href)}">{_e(p.name)}</a>' if has_report
                else f"{_e(p.name)} <span class=\"note\">(no report: run "
                     f"<code>drugbayes report {_e(p.name)}</code>)</span>")
        when = _dt.datetime.fromtimestamp((p / "manifest.json").stat().st_mtime,
                                          _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        wall = manifest.get("wall_seconds")
        rows.append(f'<tr data-run="{_e(p.name)}" data-passed="{_e(passed)}"><td>{link}</td>'
                    f"<td>{_state(passed)}</td><td>{_e(manifest.get('method'))}</td>"
                    f"<td class=\"num\">{_e(_fmt(wall) if _is_number(wall) else '')}</td>"
                    f"<td>{_e(when)}</td><td>{_e(manifest.get('drugbayes'))}</td></tr>")
    head = ("<tr><th>run</th><th>state</th><th>method</th><th>wall seconds</th>"
            "<th>written</th><th>drugbayes</th></tr>")
    body = (f"<h1>Runs in {_e(root.name or str(root))}</h1>"
            f"<p>{len(rows)} run {'directory' if len(rows) == 1 else 'directories'}, "
            f"{len(rows) - n_fail} passed their diagnostics, {n_fail} did not.</p>"
            f'<table id="runs"><thead>{head}</thead><tbody>\n' + "\n".join(rows)
            + "\n</tbody></table>")
    return INDEX_MARK + "\n" + _page(f"drugbayes runs: {root.name}", body)


def write_indexes(run_dirs: list[Path]) -> list[tuple[Path, Path | None, str | None]]:
    """Write the index of each folder that holds one of ``run_dirs``.

    Returns
    -------
    list of (folder, index or None, why not or None)
    """
    roots = list(dict.fromkeys(Path(d).absolute().parent for d in run_dirs))
    return [(root, *write_index(root)) for root in roots]


def write_index(root: Path) -> tuple[Path | None, str | None]:
    """Write ``root/index.html`` where :func:`index_problem` allows it.

    Returns
    -------
    (Path or None, str or None)
        The index written, or ``None`` and why not.
    """
    root = Path(root)
    problem = index_problem(root)
    if problem is not None:
        return None, problem
    path = root / INDEX
    write_atomic(path, render_index(root))
    return path, None
