"""Panel/HoloViews components of the spikescope dashboard (built on the ``spikescope`` core).

``from widgets import Dashboard; Dashboard()`` renders the whole dashboard in a notebook;
each view (``RasterView``, ``MembraneView``, ...) takes a :class:`Session` and nothing else.
"""

from .activity import ActivityView
from .compare import CompareView
from .confusion import EvaluationView
from .controls import ControlsView
from .dashboard import Dashboard
from .evidence import EvidenceView
from .membrane import MembraneView
from .raster import RasterView
from .reconstruction import InputView
from .session import Session
from .tradeoff import TradeoffView

__all__ = ["Dashboard", "Session", "ControlsView", "RasterView", "MembraneView", "InputView",
           "EvidenceView", "ActivityView", "EvaluationView", "TradeoffView", "CompareView"]
