"""A test app (`panel serve tests/ui/app_lazy_tabs.py`): the Learning rules tab (small
settings) and the Jets tab, served as the dashboard serves them, for the browser tests."""

import panel as pn
import panel.reactive
import torch
from panel.io.resources import LOCAL_DIST

from widgets.jets import JetsTab
from widgets.learning import LearningRulesTab

torch.set_num_threads(1)
pn.extension(throttled=True, notifications=False)
panel.reactive.CDN_DIST = LOCAL_DIST  # offline, as app/main.py

pn.Tabs(("Learning rules", LearningRulesTab(n_batches=4, epochs=3, autostart=False)),
        ("Jets", JetsTab()),
        dynamic=True, sizing_mode="stretch_width").servable(title="lazy tabs")
