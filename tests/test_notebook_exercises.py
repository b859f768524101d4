"""The notebooks' self-checking exercises: every check against a right and a wrong answer, and
every solution (from the exercise cells' metadata) run through its check in a kernel."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
import _checks  # noqa: E402

pytestmark = pytest.mark.notebook


def _lambda1():
    import spikescope as ss
    from spikescope import datasets, zoo

    return ss.convert(zoo.load("digits-cnn"), datasets.load("digits", "train")[0][:500],
                      percentile=99.9).lambdas[0]


def _event_ratio():
    from spikescope import datasets, dvs

    image = datasets.load("digits-events", "test", target="image")[1][0, 0].numpy()
    return len(dvs.emulate(image, threshold=0.4)) / len(dvs.emulate(image, threshold=0.2))


class FakeSession(SimpleNamespace):
    def spikes_at(self, t):
        return 1234 if t == self.timesteps else 0


TTFS = dict(session=FakeSession(code="ttfs", encoding="ttfs", timesteps=100))

# exercise -> (right answer, wrong answer, context); a callable answer is computed here
CASES = {
    "01.1": (0.1, 0.9, {}),
    "01.2": (0.25, 1 / 3, {}),
    "01.3": (15, 18, {}),
    "02.1": (1.0, 2.5, {}),
    "02.2": (_lambda1, 1.0, {}),
    "03.1": (4, 3, {}),
    "03.2": (0.6875, 0.7, {}),
    "03.3": (3, 4, {}),
    "04.1": (80.2, 18.7, {}),
    "04.2": (2.36, 236.0, {}),
    "04.3": (4, 2, {}),
    "05.1": (6, 7, {}),
    "05.2": (_event_ratio, 0.9, {}),
    "06.1": (1234, 1000, TTFS),
    "06.2": (320, 10, {}),
    "07.1": ([-0.01, 0.01, 0.0], [-0.003, 0.02, 0.0], {}),
    "07.2": (1.0, 2.0, {}),
    "07.3": (9, 11, {}),
    "08.1": (("w", "z"), ("g", "q"), {}),
    "08.2": (0.7, 0.5, {}),
}


def test_every_exercise_has_cases():
    assert set(CASES) == set(_checks.CHECKS)


@pytest.mark.parametrize("key", sorted(CASES))
def test_check_right_and_wrong(key):
    right, wrong, ctx = CASES[key]
    right = right() if callable(right) else right
    ok = _checks.check(key, right, **ctx)
    assert ok and ok.why, ok
    bad = _checks.check(key, wrong, **ctx)
    assert not bad and "you gave" in bad.why, bad
    assert not _checks.check(key, ...), "an unanswered exercise is not right"
    assert "Right" in ok._repr_markdown_() and "Not yet" in bad._repr_markdown_()


def test_strict_mode_raises_on_a_wrong_answer(monkeypatch):
    monkeypatch.setattr(_checks, "STRICT", True)
    with pytest.raises(AssertionError, match="04.3"):
        _checks.check("04.3", 2)


def test_06_1_needs_the_switch_to_ttfs():
    v = _checks.check("06.1", 1234, session=FakeSession(code="rate", encoding="analog",
                                                        timesteps=100))
    assert not v and "ttfs" in v.why


def test_notebooks_have_exercises_and_headers():
    for f in sorted(NOTEBOOKS.glob("0[1-8]_*.ipynb")):
        nb = json.loads(f.read_text())
        cells = nb["cells"]
        head = "".join(cells[0]["source"])
        for word in ("**You need:**", "**You will learn:**", "**Next:**"):
            assert word in head, (f.name, word)
        ex = [c for c in cells if "exercise" in c.get("metadata", {}).get("tags", [])]
        chk = [c for c in cells if "check" in c.get("metadata", {}).get("tags", [])]
        assert 2 <= len(ex) <= 4 and len(chk) == len(ex), f.name
        for c in ex:
            assert "..." in "".join(c["source"]), f"{f.name}: exercise cell shows its solution"
            assert c["metadata"]["spikescope"]["solution"]
        assert all(c.get("outputs", []) == [] for c in cells if c["cell_type"] == "code"), \
            f"{f.name}: committed with outputs"


def test_solutions_pass_their_checks(tmp_path):
    """make_solutions --exercises-only: set-up cells + solutions + checks (STRICT) per notebook,
    each run in a fresh kernel; a wrong solution raises in its check cell."""
    import nbformat
    from nbclient import NotebookClient

    subprocess.run([sys.executable, str(NOTEBOOKS / "make_solutions.py"), str(tmp_path),
                    "--exercises-only"], check=True, capture_output=True)
    names = sorted(p.name for p in tmp_path.glob("0[1-8]_*.ipynb"))
    assert len(names) == 8
    for name in names:
        nb = nbformat.read(tmp_path / name, as_version=4)
        NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        outs = [o for c in nb.cells if "check" in c.metadata.get("tags", [])
                for o in c.get("outputs", [])]
        text = json.dumps(outs)
        assert "Right" in text and "Not yet" not in text, (name, text[:500])
        assert np.all([o.get("output_type") != "error" for o in outs])


# ----------------------------------------------------------------------------- _classroom
def test_classroom_sends_updates_of_a_closed_comm_in_order(monkeypatch):
    """Diffs made while an output's comm is closed wait and leave in the order they were
    made; a diff made while older ones wait joins the queue (notebook 06's time slider)."""
    import _classroom
    import panel.io.notebook as nb

    sent, timers = [], []
    monkeypatch.setattr(nb, "send", lambda comm, msg: sent.append(msg))
    monkeypatch.setattr(nb, "diff", lambda doc, binary=True: doc.pop(0) if doc else None)
    monkeypatch.setattr(_classroom, "_later", timers.append)
    monkeypatch.setattr(_classroom, "_QUEUED", {})
    comm = SimpleNamespace(id="output-1", _comm=None)
    for t in range(1, 31):  # Step pressed 30 times before the browser rendered the output
        _classroom._push([f"t={t}"], comm)
    assert sent == [] and len(timers) == 1, "one timer per comm, not one per diff"
    timers.pop()()  # still closed: waits again
    assert sent == [] and len(timers) == 1
    comm._comm = object()  # the browser opened the comm
    _classroom._push(["t=31"], comm)  # made after the others: must not overtake them
    timers.pop()()
    assert sent == [f"t={t}" for t in range(1, 32)]
    assert not _classroom._QUEUED and _classroom.comms_ready()
    _classroom._push(["t=32"], comm)  # open and nothing waiting: sent at once
    assert sent[-1] == "t=32" and not timers
