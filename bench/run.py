"""Run every benchmark in this folder and print its figures."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["plan_store.py", "dispatch.py", "alerts.py", "questionnaire_pages.py", "exports.py",
              "audit.py"]

if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    for name in BENCHMARKS:
        print(f"== {name}")
        runpy.run_path(str(HERE / name), run_name="__main__")
