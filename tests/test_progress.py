"""Progress of long runs: a bar on a terminal, plain lines otherwise, nothing with --quiet."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from drugbayes.cli import main
from drugbayes.progress import ProgressHandler, progress_extra

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke" / "minimal_map.toml"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _log(stream: io.StringIO) -> tuple[logging.Logger, ProgressHandler]:
    h = ProgressHandler(stream)
    h.setFormatter(logging.Formatter("[db] %(message)s"))
    lg = logging.getLogger(f"test_progress.{id(stream)}")
    lg.propagate = False
    lg.addHandler(h)
    lg.setLevel(logging.INFO)
    return lg, h


def _steps(lg: logging.Logger, total: int = 1000) -> None:
    lg.info("starting")
    for done in range(250, total + 1, 250):
        lg.info("svi: step %d/%d, -ELBO %.3g", done, total, 1.5,
                extra=progress_extra(done, total, "svi"))
    lg.info("finished")


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    lg, h = _log(out)
    _steps(lg)
    h.close()
    lines = out.getvalue().splitlines()
    assert lines == ["[db] starting"] + [f"[db] svi: step {d}/1000, -ELBO 1.5"
                                         for d in (250, 500, 750, 1000)] + ["[db] finished"]
    assert "\r" not in out.getvalue()


def test_bar_on_a_terminal():
    out = _Terminal()
    lg, h = _log(out)
    _steps(lg)
    text = out.getvalue()
    assert "\r" in text and "svi" in text
    for d in (250, 500, 750, 1000):  # every record redraws the bar
        assert f"{d}/1000" in text
    assert "100%" in text and "-ELBO 1.5" in text
    assert "step 250/1000" not in text  # progress records are drawn, not printed
    assert text.startswith("[db] starting\n") and text.endswith("[db] finished\n")
    assert h._open == {}  # a bar that reached its total is closed
    lg.info("svi: step %d/%d", 10, 100, extra=progress_extra(10, 100, "svi"))
    assert h._open
    h.close()
    assert h._open == {}


def test_cli_prints_plain_progress_lines_unless_quiet(tmp_path, capsys):
    args = [str(SMOKE), "--set", "inference.map_num_steps=200", "--set", "report.html=false"]
    assert main(["run", *args, "--set", f"run.output_dir={tmp_path / 'a'}"]) == 0
    err = capsys.readouterr().err  # captured: not a terminal
    assert "[drugbayes] map: step 200/200" in err and "\r" not in err
    assert main(["run", *args, "--quiet", "--set", f"run.output_dir={tmp_path / 'b'}"]) == 0
    assert "[drugbayes]" not in capsys.readouterr().err
    assert not logging.getLogger("drugbayes").handlers  # the CLI removed its handler
