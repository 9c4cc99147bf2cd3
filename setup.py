"""Build hook: the Hydra configs live in conf/ at the top of the repository; a built package
carries a copy as evoprune/conf, so an installed wheel runs without the repository. Everything
else about the package is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONF = Path(__file__).resolve().parent / "conf"


class BuildWithConfigs(build_py):
    def run(self) -> None:
        super().run()
        if not self.editable_mode:  # an editable install reads conf/ in place
            shutil.copytree(CONF, Path(self.build_lib) / "evoprune" / "conf",
                            dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildWithConfigs})
