"""`panel serve app/`: the spikescope dashboard, one Session per browser session."""

import sys

import panel as pn
import torch

from widgets import Dashboard, transfer

if "--trust-uploaded-code" in sys.argv[1:]:  # `panel serve app/ --args --trust-uploaded-code`
    transfer.TRUST_UPLOADED_CODE = True  # uploaded TorchScript (code) is loaded; see SECURITY.md

torch.set_num_threads(1)  # many sessions and a thread pool on few cores: no oversubscription
pn.extension(throttled=True, notifications=False)

Dashboard().servable()
