"""The HTML report of a run directory, the index page of an output root, the tables'
formats; and (marked ``browser``) the report loaded in headless chromium."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from drugbayes.cli import main
from drugbayes.outputs import output_dir_problem
from drugbayes.report.html import INDEX_MARK, index_problem, write_index

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs" / "smoke"
EVIL = "<script>alert(1)</script>"
TINY = ["--set", "inference.num_warmup=60", "--set", "inference.num_samples=40",
        "--set", "inference.num_chains=2"]


def _evil_config(folder: Path, method: str) -> Path:
    """The smoke table with cell line CL001 renamed to a script tag, and its config."""
    table = pd.read_csv(SMOKE / "data" / "percent_nM.csv")
    table["cell_line"] = table["cell_line"].replace({"CL001": EVIL})
    table.to_csv(folder / "evil.csv", index=False)
    cfg = folder / "evil.toml"
    cfg.write_text('[data]\npath = "evil.csv"\ndose_unit = "nM"\nresponse_scale = "percent"\n'
                   f'[inference]\nmethod = "{method}"\n')
    return cfg


@pytest.fixture(scope="module")
def nuts_run(tmp_path_factory):
    """A tiny NUTS fit (too few draws: its diagnostics fail and name parameters)."""
    folder = tmp_path_factory.mktemp("report")
    cfg = _evil_config(folder, "nuts")
    out = folder / "results" / "evil"
    assert main(["run", str(cfg), "--quiet", "--set", f"run.output_dir={out}", *TINY]) == 0
    return out


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(text: str) -> list[tuple[str, dict]]:
    p = _Tags()
    p.feed(text)
    return p.tags


def test_report_is_written_listed_and_self_contained(nuts_run):
    text = (nuts_run / "report.html").read_text()
    manifest = json.loads((nuts_run / "manifest.json").read_text())
    assert manifest["files"].count("report.html") == 1
    assert output_dir_problem(nuts_run) is None  # a rerun may still replace it
    tags = _tags(text)
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed")]
    for t, a in tags:  # nothing loads from anywhere but the page
        for k in ("src", "href"):
            if k in a and t != "a":
                assert a[k].startswith("data:image/"), (t, a[k][:40])
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    imgs = [a for t, a in tags if t == "img"]
    pngs = [f for f in manifest["files"] if f.startswith("plots/") and f.endswith(".png")]
    assert len(pngs) >= 2  # the run's overview and one figure per drug
    assert len(imgs) == len(pngs)
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    # the headline, the failed diagnostics with offending parameters named, data, versions
    assert 'id="headline"' in text and "diagnostics FAILED" in text
    diag = json.loads((nuts_run / "diagnostics.json").read_text())
    assert diag["offending"]
    for r in diag["offending"][:5]:
        assert html.escape(r["parameter"]) in text
    assert "96 wells, 3 cell lines" in text
    assert manifest["versions"]["numpyro"] in text and 'id="config"' in text


def test_strings_from_data_files_are_escaped(nuts_run):
    text = (nuts_run / "report.html").read_text()
    assert EVIL not in text and "alert(1)</script>" not in text
    assert html.escape(EVIL) in text
    summary = pd.read_csv(nuts_run / "summary.csv")
    assert EVIL in set(summary["cell_line"])  # it was in the data and reached the table


def test_index_lists_runs_with_state(nuts_run):
    index = nuts_run.parent / "index.html"
    text = index.read_text()
    assert text.splitlines()[0] == INDEX_MARK
    assert 'href="evil/report.html"' in text and 'data-passed="False"' in text
    assert "diagnostics FAILED" in text


def test_report_command_rebuilds_and_keeps_the_manifest(nuts_run, capsys):
    (nuts_run / "report.html").write_text("stale")
    assert main(["report", str(nuts_run)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (nuts_run / "report.html").read_text().startswith("<!DOCTYPE html>")
    manifest = json.loads((nuts_run / "manifest.json").read_text())
    assert manifest["files"].count("report.html") == 1
    assert output_dir_problem(nuts_run) is None
    assert not [p for p in nuts_run.iterdir() if p.name.startswith(".")]  # no temporary left


def test_report_command_refuses_what_is_not_a_run_directory(nuts_run, tmp_path, capsys):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.txt").write_text("mine")
    before = (nuts_run / "report.html").read_bytes()
    extra = nuts_run / "my_notes.txt"
    extra.write_text("mine")
    try:
        rc = main(["report", str(nuts_run), str(notes), str(tmp_path / "absent")])
    finally:
        extra.unlink()
    err = capsys.readouterr().err
    assert rc == 2
    assert "my_notes.txt" in err and "notes" in err and "absent" in err  # every problem
    assert (nuts_run / "report.html").read_bytes() == before  # nothing written
    assert sorted(p.name for p in notes.iterdir()) == ["a.txt"]


def _fake_run(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"files": [], "complete": True}))
    return folder


def test_index_is_written_only_where_safe(tmp_path):
    root = tmp_path / "results"
    _fake_run(root / "a")
    _fake_run(root / "b")
    (root / ".a.incomplete-x").mkdir()  # hidden entries are drugbayes' own or the system's
    path, why = write_index(root)
    assert why is None and path == root / "index.html"
    text = path.read_text()
    assert 'data-run="a"' in text and 'data-run="b"' in text and "no report" in text
    assert write_index(root)[0] == path  # its own index is rewritten
    # a user's own file in the root: no index there, and the old one is left as it is
    (root / "notes.txt").write_text("mine")
    assert "notes.txt" in (index_problem(root) or "")
    assert write_index(root)[0] is None and path.read_text() == text
    (root / "notes.txt").unlink()
    # an index.html the user wrote, or a link, is never replaced
    path.write_text("<html>my index</html>")
    assert "not written by drugbayes" in (write_index(root)[1] or "")
    assert path.read_text() == "<html>my index</html>"
    path.unlink()
    os.symlink(tmp_path / "elsewhere.html", path)
    assert write_index(root)[0] is None and not (tmp_path / "elsewhere.html").exists()


def test_tables_and_html_switch(tmp_path, capsys):
    """``[report] tables`` adds Parquet and Excel copies equal to the CSV; ``html = false``
    writes no report and no index."""
    pytest.importorskip("openpyxl")
    cfg = _evil_config(tmp_path, "map")
    out = tmp_path / "results" / "map"
    rc = main(["run", str(cfg), "--quiet", "--set", f"run.output_dir={out}",
               "--set", "inference.map_num_steps=200", "--set", "report.html=false",
               "--set", 'report.tables=["csv", "parquet", "xlsx"]'])
    assert rc == 0
    assert not (out / "report.html").exists() and not (out.parent / "index.html").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"summary.csv", "summary.parquet", "summary.xlsx"} <= set(manifest["files"])
    assert output_dir_problem(out) is None
    csv = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values=[""])
    pq = pd.read_parquet(out / "summary.parquet")
    xl = pd.read_excel(out / "summary.xlsx", sheet_name="summary", keep_default_na=False,
                       na_values=[""])
    for t in (pq, xl):
        assert list(t.columns) == list(csv.columns)
        assert list(t["cell_line"]) == list(csv["cell_line"])
        pd.testing.assert_series_equal(t["median"], csv["median"], rtol=1e-12)


def test_tables_must_keep_csv():
    from drugbayes.config import load_config
    from drugbayes.errors import ConfigError

    with pytest.raises(ConfigError, match="summary.csv is always written"):
        load_config(SMOKE / "minimal_map.toml", ['report.tables=["parquet"]'])


def test_table_formats_may_be_named_in_formats():
    """``[report] formats`` naming table formats adds them to ``tables`` (csv kept) and leaves
    the plots' formats (png where none is named); an unknown format is still refused."""
    from drugbayes.config import load_config
    from drugbayes.errors import ConfigError

    cfg = load_config(SMOKE / "minimal_map.toml", ['report.formats=["svg", "parquet", "xlsx"]'])
    assert cfg.report.formats == ["svg"]
    assert cfg.report.tables == ["csv", "parquet", "xlsx"]
    cfg = load_config(SMOKE / "minimal_map.toml", ['report.formats=["parquet"]'])
    assert cfg.report.formats == ["png"] and cfg.report.tables == ["csv", "parquet"]
    with pytest.raises(ConfigError, match="formats"):
        load_config(SMOKE / "minimal_map.toml", ['report.formats=["png", "docx"]'])


# ----------------------------------------------------------------------------- browser
def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    msg = ("chromium not found: install Debian's chromium (apt-get install chromium) to run "
           "the browser tests (.ci/run installs it)")
    if os.environ.get("DRUGBAYES_REQUIRE_BROWSER"):
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser (module scope, so that a missing one skips before any fit)."""
    return _chromium()


_PROBE = """<script>
window.__alerts = 0; window.alert = function () { window.__alerts += 1; };
window.addEventListener("load", function () {
  // synchronous, so that it has run when chromium dumps the DOM after the load event;
  // drawing into a canvas and reading the pixels back forces a full decode
  const images = Array.from(document.images).map(function (img) {
    const out = {alt: img.alt, complete: img.complete, width: img.naturalWidth,
                 height: img.naturalHeight, inked: 0};
    if (img.complete && img.naturalWidth > 0) {
      const c = document.createElement("canvas");
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      const px = g.getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] > 0 && (px[i] < 200 || px[i + 1] < 200 || px[i + 2] < 200)) out.inked++;
      }
    }
    out.ok = out.complete && out.width > 0 && out.height > 0 && out.inked > 0;
    return out;
  });
  const table = document.getElementById("headline");
  const probe = {
    images: images, alerts: window.__alerts,
    scripts: document.scripts.length,
    header: Array.from(table.tHead.rows[0].cells).map(c => c.innerText),
    rows: Array.from(table.tBodies[0].rows).map(r => Array.from(r.cells).map(
      c => ({text: c.innerText, value: c.dataset.value === undefined ? null : c.dataset.value})))
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(probe);
  document.body.appendChild(pre);
});
</script>"""


def _run_chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.browser
def test_report_in_headless_chromium(chromium, nuts_run, tmp_path):
    """Every image decodes and the headline values shown match summary.csv, in a real
    browser; the data's script tag runs nowhere. A screenshot is saved in tmp_path."""
    exe = chromium
    report = nuts_run / "report.html"
    # a copy with a probe script (the report's own policy forbids scripts: it is lifted in
    # the copy only, so that the probe runs; the page is otherwise unchanged)
    page = report.read_text()
    page, n = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", page)
    assert n == 1
    page = page.replace("<head>", "<head>" + _PROBE, 1)
    probed = tmp_path / "probed.html"
    probed.write_text(page)
    res = _run_chromium(exe, tmp_path / "profile", "--virtual-time-budget=20000", "--dump-dom",
                        probed.as_uri())
    m = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert m, f"no probe output; chromium said: {res.stderr[-2000:]}"
    probe = json.loads(html.unescape(m.group(1)))
    assert probe["alerts"] == 0 and probe["scripts"] == 1  # only the probe ran
    manifest = json.loads((nuts_run / "manifest.json").read_text())
    pngs = [f for f in manifest["files"] if f.startswith("plots/") and f.endswith(".png")]
    assert len(probe["images"]) == len(pngs) >= 2
    assert all(i["ok"] for i in probe["images"]), probe["images"]
    # the headline table against summary.csv: every row, every value, in order
    s = pd.read_csv(nuts_run / "summary.csv", keep_default_na=False, na_values=[""])
    head = s[s["quantity"].isin(("ic50", "ic50_fold_change"))].reset_index(drop=True)
    assert probe["header"] == ["cell_line", "drug", "quantity", "unit", "median", "lower",
                               "upper", "censored"]
    assert len(probe["rows"]) == len(head) > 0
    for row, (_, want) in zip(probe["rows"], head.iterrows()):
        cells = dict(zip(probe["header"], row))
        for col in ("cell_line", "drug", "quantity", "unit"):
            assert cells[col]["text"] == want[col]
        for col in ("median", "lower", "upper"):
            assert float(cells[col]["value"]) == want[col]
            assert cells[col]["text"] == f"{want[col]:.4g}"
    assert EVIL in {r[0]["text"] for r in probe["rows"]}  # shown as text, not run
    shot = tmp_path / "report.png"
    res = _run_chromium(exe, tmp_path / "profile", "--window-size=1280,3000",
                        f"--screenshot={shot}", report.as_uri())
    assert shot.is_file(), res.stderr[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 3000)


def test_large_tables_are_cut_and_missing_files_reported(tmp_path):
    """A screen-sized summary shows its first MAX_ROWS headline rows and says so; a run
    directory missing its files still gets a report that names what is missing."""
    from drugbayes.report.html import MAX_ROWS, render_report, write_report

    run = _fake_run(tmp_path / "big")
    assert "summary.csv is missing" in render_report(run)
    n = MAX_ROWS + 500
    pd.DataFrame({"cell_line": [f"C{i}" for i in range(n)], "drug": "D", "quantity": "ic50",
                  "unit": "nM", "median": 1.0, "lower": 0.5, "upper": 2.0, "censored": "",
                  "interval_prob": 0.95}).to_csv(run / "summary.csv", index=False)
    (run / "config.resolved.toml").write_text('[model]\nfamily = "dose_response"\n')
    (run / "manifest.json").write_text(json.dumps(
        {"files": ["config.resolved.toml", "summary.csv"], "complete": True}))
    text = write_report(run).read_text()
    assert text.count('<tr><td>C') == MAX_ROWS and f"first {MAX_ROWS} of {n} rows" in text
    assert "diagnostics.json is missing" in text
    assert json.loads((run / "manifest.json").read_text())["files"] == [
        "config.resolved.toml", "report.html", "summary.csv"]


def test_svg_plots_are_inlined_and_other_formats_linked(tmp_path):
    from drugbayes.report.html import render_report

    run = _fake_run(tmp_path / "svg")
    (run / "plots").mkdir()
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
           '<rect width="4" height="4"/></svg>')
    (run / "plots" / "curve.svg").write_text(svg)
    (run / "plots" / "curve.pdf").write_bytes(b"%PDF-1.4")
    (run / "plots" / "other.pdf").write_bytes(b"%PDF-1.4")
    (run / "manifest.json").write_text(json.dumps({"files": [
        "plots", "plots/curve.pdf", "plots/curve.svg", "plots/other.pdf"], "complete": True}))
    text = render_report(run)
    srcs = [a["src"] for t, a in _tags(text) if t == "img"]
    assert len(srcs) == 1 and srcs[0].startswith("data:image/svg+xml;base64,")
    import base64

    assert base64.b64decode(srcs[0].split(",", 1)[1]).decode() == svg
    assert 'href="plots/other.pdf"' in text and 'href="plots/curve.pdf"' not in text
