"""The dashboard's wiring of event SNNs, uploads, lazy tabs, run export and recording limits."""

import io
import os
import pickle

import numpy as np
import panel as pn
import pytest
import torch

from spikescope import zoo
from spikescope.io import load_run
from widgets import Dashboard, Session
from widgets import session as session_mod
from widgets.upload import UploadView


@pytest.fixture(scope="module")
def dash(one_thread):
    return Dashboard(Session(model="digits-mlp", timesteps=40))


def test_model_choices_list_zoo_anns_and_trained_snns(dash):
    objs = dash.session.param.model.objects
    assert set(zoo.names()) <= set(objs)
    assert set(zoo.snn_names()) == {"events-classifier", "events-reconstructor"} & set(objs)


def test_event_classifier_runs_on_events_without_conversion(dash):
    s = dash.session
    s.model = "events-classifier"
    assert s.error == "", s.error
    assert (s.dataset, s.encoding, s.timesteps) == ("digits-events", "events", 20)
    assert s.trained and s.ann is None and "do not apply" in s.notice
    assert all(lam == 1.0 for lam in s.net.lambdas), "a trained SNN must not be normalized"
    assert dash.controls.percentile.disabled and dash.controls.code.disabled
    s.reset_run = True
    for _ in range(10):
        s.step = True
    ev = s.event_image(10)
    assert ev.shape == (34, 34) and ev.max() > 0 and ev.min() < 0, "no ON and OFF events"
    shown = s.decoded_input(10)  # the input view's middle image: events per pixel so far
    assert shown.min() == 0 and shown.max() == 1
    img = s.input_image()
    on, off = shown[img > 0.2].mean(), shown[img < 0.01].mean()
    assert on > 3 * off, f"events on the digit {on:.2f} vs background {off:.2f}"
    assert s.input_image().shape == (34, 34) and s.input_image().max() <= 1.0
    assert int(s.recording.output_counts[-1, 0].argmax()) == s.label, "misclassified sample 0"
    assert s.reconstruction(10) is None, "a classifier has no image output"
    assert len(dash.top) == 2, "the classifier's evidence is not shown"
    # parameters that do not apply to a trained SNN change nothing
    before = s.recording.output_counts.clone()
    s.percentile = 99.0
    assert torch.equal(before, s.recording.output_counts)


def test_event_reconstructor_draws_the_image_over_time(dash):
    s = dash.session
    s.model = "events-reconstructor"
    assert s.error == "" and s.task == "reconstruction"
    early, late = s.reconstruction(2), s.reconstruction(s.timesteps)
    assert late.shape == s.input_image().shape == (34, 34)
    assert late.sum() > early.sum(), "the reconstruction does not form over time"
    err = float(((late - s.input_image()) ** 2).mean())
    black = float((s.input_image() ** 2).mean())
    assert err < black, f"reconstruction MSE {err:.3f} not better than a black image {black:.3f}"
    assert len(dash.top) == 1, "class evidence of 1156 'classes' is shown"
    pn.panel(dash).get_root()  # every view renders the event model


def test_back_to_an_ann_restores_analog_input_and_T(dash):
    s = dash.session
    s.model = "digits-mlp"
    assert s.error == "", s.error
    assert (s.dataset, s.encoding, s.timesteps) == ("digits", "analog", 40)
    assert not dash.controls.percentile.disabled and s.notice == ""


def _state_dict_bytes(name="digits-mlp") -> bytes:
    buf = io.BytesIO()
    torch.save(zoo.load(name).state_dict(), buf)
    return buf.getvalue()


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch /tmp/spikescope-upload-pwned",))


@pytest.mark.parametrize("data,expect", [
    (b"this is not a model" * 20, "unknown model format"),
    (pickle.dumps(_RunsCode()), "refused"),
    (b"", "empty"),
    (b"x" * (session_mod.MAX_UPLOAD_BYTES + 1), "size limit"),
])
def test_bad_upload_shows_a_message_and_the_session_keeps_working(dash, data, expect):
    s = dash.session
    s.model = "digits-mlp"
    view = UploadView(s)
    models = list(s.param.model.objects)
    assert view.load(data, "bad.pt") is None
    assert view.alert.visible and view.alert.alert_type == "danger"
    assert expect in view.alert.object, view.alert.object
    assert not os.path.exists("/tmp/spikescope-upload-pwned"), "the pickle payload ran"
    assert s.param.model.objects == models and s.model == "digits-mlp"
    t = s.t
    s.reset_run = True
    s.step = True
    assert s.t == 1 and s.spikes_at(1) >= 0 and t >= 0


def test_upload_joins_this_sessions_models_only(dash):
    s = dash.session
    view = UploadView(s)
    report = view.load(_state_dict_bytes(), "my_mlp.pt")
    assert report is not None and report.convertible
    assert view.alert.alert_type == "success" and "Linear" in view.report.object
    assert s.model == "upload: my_mlp.pt" and s.dataset == "digits" and s.error == ""
    s.step = True
    assert s.spikes_at(s.t) > 0
    other = Session(model="digits-mlp", timesteps=20)
    assert "upload: my_mlp.pt" not in other.param.model.objects


def test_torchscript_upload_needs_the_trust_option(dash):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Flatten())), buf)
    view = UploadView(dash.session)
    assert view.load(buf.getvalue(), "code.pt") is None
    assert "trust" in view.alert.object and "refused" in view.alert.object, view.alert.object


def test_unconvertible_upload_shows_the_layer_report(dash, monkeypatch):
    from widgets import transfer

    monkeypatch.setattr(transfer, "TRUST_UPLOADED_CODE", True)
    s = dash.session
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10), torch.nn.Tanh())
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(model), buf)
    view = UploadView(s)
    models = list(s.param.model.objects)
    report = view.load(buf.getvalue(), "tanh.pt")
    assert report is not None and not report.convertible
    assert view.alert.alert_type == "warning" and "**no**" in view.report.object
    assert s.param.model.objects == models


def test_download_run_round_trips(dash, tmp_path):
    s = dash.session
    s.model = "digits-mlp"
    s.sample = 3
    s.t = 7
    data = dash._run_file().getvalue()
    path = tmp_path / dash.download.filename
    path.write_bytes(data)
    run = load_run(path)
    assert run.params["model"] == "digits-mlp" and run.params["sample"] == 3
    assert run.params["t"] == 7 and run.params["timesteps"] == s.timesteps
    assert torch.equal(run.recording.output_counts, s.recording.output_counts.cpu())
    assert np.allclose(run.plots["input_image"], s.input_image())


def test_heavy_tabs_are_built_on_first_show(dash):
    titles = [dash.tabs._names[i] for i in range(len(dash.tabs))]
    assert titles[3:] == ["Sweeps", "Jets", "Learning rules", "Compare runs"]
    assert all(len(dash.tabs[i]) == 0 for i in dash._lazy), "a lazy tab was built eagerly"
    dash.tabs.active = 5
    learning = dash.tabs[5]
    assert len(learning) == 1 and 5 not in dash._lazy
    dash.built[5].stop.clicks += 1  # it trains on build: stop it, the Jets tab is next
    dash.built[5].worker.join(timeout=60)
    jets = dash.tab("Jets")
    assert "hls4ml" in jets.status.object
    jets.path.value = "/nonexistent/jets.arff"
    jets.start()
    for _ in range(100):
        if jets.status.alert_type == "danger":
            break
        import time
        time.sleep(0.05)
    assert jets.status.alert_type == "danger" and "does not exist" in jets.status.object
    sweeps = dash.tab("Sweeps")
    pn.panel(sweeps).get_root()


def test_recordings_are_bounded(monkeypatch):
    monkeypatch.setattr(session_mod, "MAX_MEMBRANE_CELLS", 10_000)
    monkeypatch.setattr(session_mod, "MAX_TRAIN_CELLS", 3146 * 150)
    s = Session(model="digits-cnn", timesteps=100)
    rec = s.recording
    assert rec.membrane_neurons is not None, "membrane of every neuron recorded past the limit"
    assert all(m.shape[2] <= session_mod.MEMBRANE_NEURONS + 2 for m in rec.membrane)
    for layer, i in s.traces:  # default traces are recorded
        assert i in set(rec.membrane_neurons[layer].tolist())
    s.add_trace(0, 5)  # not among the recorded ones: replayed from the recorded spikes
    assert 5 not in set(s.recording.membrane_neurons[0].tolist())
    assert s.membrane_of(0, 5) is not None and len(s.membrane_of(0, 5)) == s.timesteps
    s.timesteps = 400
    assert s.timesteps == 150 and "limited to 150 steps" in s.notice
    assert s.recording.spike_trains[0].shape[0] == 150
