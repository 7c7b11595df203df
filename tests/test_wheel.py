"""The wheel carries what an installed app reads: templates, static files, shipped instruments, the
protocol, SMS templates, migrations and compiled translations, and never a site's local instruments.

It is built (`python -m build --wheel`, as the README says) from a copy of the checkout with a
licensed instrument planted in questionnaires/local/. `make e2e` runs the installed wheel.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["pro_app", "templates", "static", "questionnaires", "setup.py", "pyproject.toml", "MANIFEST.in",
           "README.md"]


def test_the_wheel_carries_every_resource_and_no_local_instrument(tmp_path):
    source = tmp_path / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.mo", "local"))
        else:
            shutil.copy2(ROOT / name, source / name)
    (source / "questionnaires" / "local").mkdir()
    (source / "questionnaires" / "local" / "licensed.yaml").write_text("id: licensed\n")
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("pro_app-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    bundled = "pro_app/_bundled/"
    for folder in ("templates", "static", "questionnaires"):
        for path in (ROOT / folder).rglob("*"):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and "local/" not in relative and path.name != "README.md":
                assert bundled + relative in names, relative
    assert not [n for n in names if "licensed" in n or n.startswith(bundled + "questionnaires/local")]
    assert bundled + "questionnaires/README.md" not in names
    assert "pro_app/protocol/default.yaml" in names
    for path in (ROOT / "pro_app" / "migrations" / "versions").glob("*.py"):
        assert f"pro_app/migrations/versions/{path.name}" in names
    for path in (ROOT / "pro_app").rglob("*.yaml"):
        assert path.relative_to(ROOT).as_posix() in names
    # Compiled at build time from the .po (the checkout's .mo is a build product git ignores).
    mo = "pro_app/translations/zh_Hans_CN/LC_MESSAGES/messages.mo"
    assert mo in names
    catalogue = zipfile.ZipFile(wheel).read(mo)
    assert "开始".encode() in catalogue
