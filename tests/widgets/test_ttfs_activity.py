"""Activity tab: the TTFS diagnostics table shows for the TTFS codes only (issue 23)."""

import panel as pn
import torch
from bokeh.document import Document

from widgets import ActivityView, Session
from widgets.activity import ttfs_table


def test_activity_tab_shows_ttfs_diagnostics_for_ttfs_codes():
    torch.set_num_threads(1)
    s = Session(model="digits-cnn", code="ttfs-dyn-thresh", timesteps=30, eval_samples=20)
    view = ActivityView(s)
    assert pn.panel(view).get_root(Document()) is not None
    text = ttfs_table(s)
    assert "premature" in text and "decision" in text
    assert text.count("\n| ") == len(s.layer_names) + 1, "one row per layer"
    assert "t = " in text.splitlines()[-1], "the output row shows the decision step"
    s.code = "rate"
    assert ttfs_table(s) == ""
    pn.state.reset()
