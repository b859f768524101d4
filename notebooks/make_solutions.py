"""Write the teaching notebooks with the exercise solutions filled in (for teachers).

    python notebooks/make_solutions.py OUT_DIR [--exercises-only]

Every exercise cell (tag ``exercise``) keeps its solution in its metadata
(``spikescope.solution``); here it replaces the student's ``...``. A first cell puts
notebooks/ on the path and sets ``_checks.STRICT = True``, so a wrong solution fails loudly.
``--exercises-only`` keeps just the set-up cells (tag ``setup``) and the exercises: the
quick run CI uses to test every solution against its check.
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def solutions(nb: dict, exercises_only: bool = False) -> dict:
    nb = copy.deepcopy(nb)
    cells = []
    for c in nb["cells"]:
        tags = c.get("metadata", {}).get("tags", [])
        if "exercise" in tags:
            c["source"] = c["metadata"]["spikescope"]["solution"].splitlines(keepends=True)
        elif exercises_only and c["cell_type"] == "code" and not (
                {"setup", "check", "exercise-intro"} & set(tags)):
            continue
        cells.append(c)
    first = {"cell_type": "code", "id": "solutions-setup", "metadata": {"tags": ["solutions"]},
             "outputs": [],
             "execution_count": None,
             "source": ["import sys\n", f"sys.path.insert(0, {str(HERE)!r})\n",
                        "import _checks\n", "\n",
                        "_checks.STRICT = True  # solutions: a wrong answer raises\n"]}
    nb["cells"] = [first] + cells
    return nb


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--exercises-only", action="store_true")
    a = ap.parse_args(argv)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    for f in sorted(HERE.glob("[0-9][0-9]_*.ipynb")):
        nb = solutions(json.loads(f.read_text()), a.exercises_only)
        (a.out_dir / f.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print("wrote", a.out_dir / f.name)


if __name__ == "__main__":
    main()
