"""Build hook: ship the TOML presets of models/ inside the wheel as drugbayes/presets/."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithPresets(build_py):
    def run(self) -> None:
        super().run()
        src = Path(__file__).parent / "models"
        dst = Path(self.build_lib) / "drugbayes" / "presets"
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithPresets})
