"""The dashboard on the zoo's graph networks (issue 17): a raster per spiking node, in
topological order, named after the module path; the network steps and reads out."""

import panel as pn
import torch
from bokeh.document import Document

from widgets import Dashboard, Session
from widgets.raster import spike_points


def test_digits_resnet_has_a_raster_per_node_and_steps():
    torch.set_num_threads(1)
    s = Session(model="digits-resnet", timesteps=30)
    d = Dashboard(s)
    d.root = pn.panel(d).get_root(Document())
    try:
        assert not s.net.is_chain
        assert s.layer_names == ["conv1", "layer1.conv1", "layer1.conv2", "layer2.conv1",
                                 "layer2.conv2", "fc"]
        assert len(d.raster._column) == len(s.layer_names)
        s.t = 30
        # the residual nodes spike (their shortcut current arrives) and the output answers
        assert len(spike_points(s, 2, 30)) > 0 and len(spike_points(s, 4, 30)) > 0
        assert int(s.recording.output_counts.sum()) > 0
    finally:
        pn.state.reset()


def test_digits_autoencoder_shows_its_reconstruction_with_mse_and_ssim():
    from widgets.reconstruction import InputView

    torch.set_num_threads(1)
    s = Session(model="digits-autoencoder", timesteps=60)
    assert s.task == "reconstruction"
    view = InputView(s)
    s.t = 60
    img = s.reconstruction(60)
    x = s.input_image()
    assert img.shape == x.shape == (8, 8)
    err = s.reconstruction_errors(60)
    # the SNN's image is the digit: close to the ANN's error, far below an empty image's
    assert err["snn_mse"] < 2 * err["ann_mse"] + 0.01
    assert err["snn_mse"] < 0.5 * float((x ** 2).mean())
    assert view.errors.visible and "MSE" in view.errors.object and "SSIM" in view.errors.object
    s.t = 5  # early: the text follows the cursor
    assert "t = 5" in view.errors.object
