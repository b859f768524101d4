"""`panel serve app/`: the spikescope dashboard, one Session per browser session."""

import sys

import panel as pn
import panel.reactive
import torch
from panel.io.resources import LOCAL_DIST

from widgets import Dashboard, transfer

if "--trust-uploaded-code" in sys.argv[1:]:  # `panel serve app/ --args --trust-uploaded-code`
    transfer.TRUST_UPLOADED_CODE = True  # uploaded TorchScript (code) is loaded; see SECURITY.md

torch.set_num_threads(1)  # many sessions and a thread pool on few cores: no oversubscription
pn.extension(throttled=True, notifications=False)
# Offline: a pane updated while detached from the document (in a hidden dynamic tab) gets its
# stylesheets (loading.css, markdown.css, alerts.css) linked to cdn.holoviz.org, Panel's
# fallback without a document; link them to this server's copy, as the page's own are.
panel.reactive.CDN_DIST = LOCAL_DIST

dashboard = Dashboard()
# a closed page's networks, runs and evaluation go back to the system (Bokeh destroys the
# session once its websocket has been closed for --unused-session-lifetime). The session is
# bound now: this module's globals are gone by the time the hook runs.
pn.state.on_session_destroyed(lambda _context, session=dashboard.session: session.close())
dashboard.servable()
