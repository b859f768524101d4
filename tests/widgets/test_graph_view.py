"""The network graph view: nodes and joins of the converted network, rates up to the cursor,
every node inside the visible ranges."""

import numpy as np
import torch

from widgets import Session
from widgets.graph_view import NetworkGraphView, graph_layout


def test_layout_places_every_node_after_its_sources():
    pos = graph_layout([[(-1,)], [(0,)], [(1,), (0,)], [(2,)]])  # a residual block
    assert pos[-1][0] == 0 and pos[0][0] == 1 and pos[2][0] == 3 and pos[3][0] == 4


def test_resnet_graph_shows_its_shortcuts_and_rates_inside_the_ranges():
    torch.set_num_threads(1)
    s = Session(model="digits-resnet", timesteps=30)
    view = NetworkGraphView(s)
    nodes = view.nodes.data
    assert nodes["name"] == ["input", *s.layer_names]
    # two residual blocks: the identity shortcut and the 1x1 downsample are join edges
    assert len(view.joins.data["x0"]) == 2
    xr, yr = view.fig.x_range, view.fig.y_range
    assert all(xr.start < x < xr.end for x in nodes["x"])
    assert all(yr.start < y < yr.end for y in nodes["y"])
    s.t = 30
    rates = np.asarray(view.nodes.data["rate"][1:])
    assert (rates[:-1] > 0).all() and (rates <= 1).all()  # hidden layers fire, <= 1 per step
    want = s.recording.layer_spikes[:30, 0].sum(0).numpy() / (30 * np.asarray(s.net.n_neurons))
    assert np.allclose(rates, want)
    assert view.mapper.high >= rates.max()


def test_layer_error_falls_with_time_and_is_inside_the_plot():
    from widgets.layer_error import layer_error_plot, layer_errors

    torch.set_num_threads(1)
    s = Session(model="digits-cnn", timesteps=100)
    err = layer_errors(s)
    assert err.shape == (100, len(s.layer_names))
    # rates converge to the ANN's activations: the error at T is well below the error at t=2
    assert (err[-1] < 0.5 * err[1]).all()
    # first layer, analog input, reset by subtraction: error <= 1/t (+ the clipping at 1)
    assert err[-1, 0] <= 1 / 100 + 1e-6
    plot = layer_error_plot(s)
    top = plot.opts.get().kwargs["ylim"][1]
    assert float(err.max()) <= top and top <= 1.1 * float(err.max()) + 1e-3


def test_spatial_view_draws_each_channel_with_its_counts():
    from widgets.spatial import SpatialView, channel_maps, spatial_plot

    torch.set_num_threads(1)
    s = Session(model="digits-cnn", timesteps=40)
    view = SpatialView(s)
    assert view.layer == s.layer_names[0] and view.param.layer.objects  # conv layers only
    s.t = 40
    maps = channel_maps(s, 0, 40)
    assert maps.shape == tuple(s.net.stages[0].out_shape)
    assert maps.sum() == s.counts_at(40)[0].sum() > 0
    layout = spatial_plot(s, 0, 40)
    first = layout.values()[0]
    # the image is the channel's counts (flipped upright) and its color range covers them
    assert np.array_equal(np.flipud(first.data), maps[0])
    assert first.opts.get().kwargs["clim"][1] >= maps.max()
