"""Learning-rule lab views: the signal-encoder explorer and the gradient-comparison plot."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import pytest

from widgets.learning import EncoderExplorer, gradient_comparison_plot


@pytest.mark.parametrize("encoder, high, low", [("tc", 2.0, 1.0), ("sf", 0.2, 0.05),
                                                ("mw", 0.1, 0.05)])
def test_encoder_explorer_renders_and_threshold_changes_spike_count(encoder, high, low):
    ex = EncoderExplorer(encoder=encoder, threshold=high)
    pn.panel(ex).get_root()
    coarse, coarse_err = ex.spike_count, ex.rmse
    ex.threshold = low
    assert ex.spike_count > coarse, f"{encoder}: lower threshold should give more spikes"
    assert ex.rmse < coarse_err, f"{encoder}: lower threshold should reconstruct better"
    assert isinstance(ex.plot(), hv.Layout)


def test_encoder_explorer_follows_the_encoder_choice():
    ex = EncoderExplorer(encoder="sf", threshold=0.1)
    sf = ex.spike_count
    ex.window = 10
    assert ex.spike_count == sf, "window only matters for mw"
    ex.encoder = "mw"
    mw10 = ex.spike_count
    ex.window = 2
    assert ex.spike_count != mw10


def test_gradient_comparison_plot_one_curve_per_rule():
    hist = {"e-prop symmetric": [{"batch": i, "w_in/cosine": 0.9} for i in range(4)],
            "e-prop random": [{"batch": i, "w_in/cosine": 0.2} for i in range(4)]}
    plot = gradient_comparison_plot(hist)
    assert isinstance(plot, hv.Overlay)
    assert [el.label for el in plot] == list(hist)
    assert list(plot.get(0).dframe()["w_in/cosine"]) == [0.9] * 4
    pn.panel(plot).get_root()
    single = gradient_comparison_plot(hist["e-prop random"])
    assert len(single) == 1
    with pytest.raises(KeyError, match="compare_to"):
        gradient_comparison_plot([{"batch": 0, "loss": 1.0}])
