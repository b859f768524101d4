"""`panel serve app/`: the spikescope dashboard, one Session per browser session."""

import panel as pn
import torch

from widgets import Dashboard

torch.set_num_threads(1)  # many sessions and a thread pool on few cores: no oversubscription
pn.extension(throttled=True, notifications=False)

Dashboard().servable()
