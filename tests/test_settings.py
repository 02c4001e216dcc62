"""JAX's persistent compilation cache: off unless the user names a folder."""

import os
import subprocess
import sys
from pathlib import Path

PROBE = ("from drugbayes.inference.settings import enable_compilation_cache; "
         "print(enable_compilation_cache())")


def _probe(home: Path, setting: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DRUGBAYES_COMPILATION_CACHE"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "xdg"), JAX_PLATFORMS="cpu")
    if setting is not None:
        env["DRUGBAYES_COMPILATION_CACHE"] = setting
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_cache_off_by_default_writes_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    assert _probe(home, None) == "None"
    assert _probe(home, "0") == "None"
    assert list(home.rglob("*")) == []


def test_cache_in_named_folder(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    folder = tmp_path / "jaxcache"
    assert _probe(home, str(folder)) == str(folder)
    assert folder.is_dir()
    assert list(home.rglob("*")) == []
