"""Build hook: put the top-level resources and the compiled translations into the wheel.

The repository keeps templates/, static/ and questionnaires/ at the top level (the layout the
project fixes), outside the pro_app package, and the .mo catalogues are build products (git
ignores them). An installed wheel has no checkout around it, so building the package copies
those folders into pro_app/_bundled/ and compiles every .po into its .mo; at run time
pro_app.resource_folder() prefers that copy. Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: Top-level folders the app reads at run time, and the files in them that are not shipped.
RESOURCES = {
    "templates": [],
    "static": [],
    # A site's licensed instruments (local/) must never leave the site; the README is for editors.
    "questionnaires": ["local", "README.md"],
}


class BuildWithResources(build_py):
    """The usual build, then the resources and compiled catalogues into the built package."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install runs from the checkout, which has the folders already
        package = Path(self.build_lib) / "pro_app"
        for name, excluded in RESOURCES.items():
            target = package / "_bundled" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(HERE / name, target, ignore=shutil.ignore_patterns(*excluded, "__pycache__", "*.pyc"))
        compile_catalogues(HERE / "pro_app" / "translations", package / "translations")


def compile_catalogues(source, target):
    """Compile every messages.po under source into the same place under target."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in source.glob("*/LC_MESSAGES/messages.po"):
        with open(po, "rb") as fh:
            catalog = read_po(fh, locale=po.parent.parent.name)
        mo = target / po.relative_to(source).with_suffix(".mo")
        mo.parent.mkdir(parents=True, exist_ok=True)
        with open(mo, "wb") as fh:
            write_mo(fh, catalog)


setup(cmdclass={"build_py": BuildWithResources})
