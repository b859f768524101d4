"""A downloaded run (Session.export_run) loaded back through the upload restores the view; crafted
run files are refused with a clear message and change nothing."""

import io
import json
import zipfile

import numpy as np
import pytest

from widgets.session import Session
from widgets.transfer import RunRestore, is_run_file
from widgets.upload import UploadView

RUN = dict(model="digits-mlp", sample=5, code="ttfs", encoding="poisson", timesteps=40,
           percentile=99.0, threshold=0.8)


@pytest.fixture(scope="module")
def exported(one_thread):
    """(run file bytes, the session it came from at t = 7)."""
    s = Session(**RUN)
    for _ in range(7):
        s.step = True
    return s.export_run(), s


@pytest.fixture(scope="module")
def other(one_thread):
    """A second session showing something else (as a fresh page would)."""
    return Session(model="digits-cnn", timesteps=30)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)
    return buf.getvalue()


def npy(a) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


def with_meta(data: bytes, **params) -> bytes:
    """The run file with ``params`` replaced in its meta.json."""
    files = members(data)
    meta = json.loads(np.load(io.BytesIO(files["meta.json.npy"])).tobytes().decode())
    meta["params"].update(params)
    files["meta.json.npy"] = npy(np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    return rezip(files)


def test_a_downloaded_run_loaded_back_restores_parameters_t_and_plots(exported, other):
    data, src = exported
    assert is_run_file(data)
    view = UploadView(other)
    res = view.load(data, "my-run.npz")
    assert isinstance(res, RunRestore)
    assert res.matches, f"re-simulation differs from the stored run: {res.differences}"
    for k, v in RUN.items():
        assert getattr(other, k) == v, k
    assert other.t == 7 and not other.error
    assert view.alert.alert_type == "success" and "restored" in view.alert.object
    # the same picture: cursor, spikes so far, input, recording
    assert other.spikes_at(7) == src.spikes_at(7)
    np.testing.assert_array_equal(other.input_image(), src.input_image())
    assert all((a == b).all() for a, b in zip(other.recording.spike_trains,
                                               src.recording.spike_trains))


def test_a_changed_recording_is_reported_not_hidden(exported, other):
    data, _ = exported
    files = members(data)
    oc = np.load(io.BytesIO(files["output_counts.npy"])).astype(np.float64)
    oc[-1, 0, 0] = np.nan
    files["output_counts.npy"] = npy(oc)
    res = UploadView(other).load(rezip(files), "tampered.npz")
    assert not res.matches and any("output counts" in d for d in res.differences)
    assert other.t == 7


@pytest.mark.parametrize("params, message", [
    ({"model": "resnet-9000"}, "model 'resnet-9000' is not available"),
    ({"model": "upload: mine.onnx"}, "upload that model file first"),
    ({"dataset": "imagenet"}, "dataset 'imagenet' is not one of"),
    ({"code": "<script>alert(1)</script>"}, "is not one of"),
    ({"threshold": float("nan")}, "threshold nan must be a finite number"),
    ({"timesteps": 1e9}, "must be a finite whole number"),
    ({"sample": 10**6}, "sample 1000000 is outside 0.."),
    ({"t": 41}, "t 41 is outside 0..40"),
    ({"t": True}, "not a valid value"),
    ({"model": None}, "not available"),
    ({"encoding": "events"}, "the run's parameters do not run here"),
])
def test_crafted_parameters_are_refused_and_change_nothing(exported, other, params, message):
    data, _ = exported
    other.reset_run = True
    before = (other.model, other.code, other.threshold, other.t, other.version)
    view = UploadView(other)
    assert view.load(with_meta(data, **params), "crafted.npz") is None
    assert view.alert.alert_type == "danger"
    text = view.alert.object
    assert "<script>" not in text  # quoted input is escaped
    with pytest.raises(Exception) as e:
        other.load_run_file(with_meta(data, **params), "crafted.npz")
    assert message in str(e.value), str(e.value)
    assert (other.model, other.code, other.threshold, other.t, other.version) == before


def test_crafted_files_are_refused_before_anything_is_allocated_or_unpickled(exported, other):
    data, _ = exported
    files = members(data)
    cases = {}
    missing = dict(files)
    del missing["output_counts.npy"]
    cases["missing array"] = (rezip(missing), "incomplete or corrupt")
    huge = dict(files)  # a header declaring 10**12 elements over a few bytes of data
    header = npy(np.zeros(3, np.float64)).replace(b"(3,)", b"(1000000000000,)")
    huge["output_counts.npy"] = header
    cases["huge shape"] = (rezip(huge), "declares shape")
    pickled = dict(files)
    pickled["output_counts.npy"] = npy(np.array([object()], dtype=object))
    cases["pickle"] = (rezip(pickled), "holds Python objects")
    stray = dict(files, **{"evil.py": b"import os"})
    cases["stray member"] = (rezip(stray), "unexpected member 'evil.py'")
    meta = dict(files, **{"meta.json.npy": npy(np.frombuffer(b"[1, 2]", np.uint8))})
    cases["meta not an object"] = (rezip(meta), "meta.json must be a JSON object")
    for what, (bad, message) in cases.items():
        assert is_run_file(bad), what
        with pytest.raises(Exception) as e:
            other.load_run_file(bad, "bad.npz")
        assert message in str(e.value), f"{what}: {e.value}"
        assert "/tmp" not in str(e.value), "the message names a server path"
    with pytest.raises(Exception, match="exceeds the size limit"):
        other.load_run_file(data + b"\0" * 21_000_000, "big.npz")
    assert not is_run_file(b"PK\x03\x04 not a zip") and not is_run_file(b"\x80\x04 pickle")


def test_a_run_of_an_uploaded_model_needs_that_model_first_then_restores(one_thread):
    import torch

    from spikescope import zoo

    buf = io.BytesIO()
    torch.save(zoo.load("digits-mlp").state_dict(), buf)
    model_file = buf.getvalue()
    src = Session(model="digits-cnn", timesteps=30)
    src.load_upload(model_file, "mine.pt")
    src.sample, src.t = 4, 9
    data = src.export_run()
    fresh = Session(model="digits-cnn", timesteps=30)
    view = UploadView(fresh)
    assert view.load(data, "run.npz") is None
    assert "upload that model file first" in view.alert.object
    assert fresh.model == "digits-cnn"
    view.load(model_file, "mine.pt")  # the model, then the run
    res = view.load(data, "run.npz")
    assert res is not None and res.matches, res
    assert (fresh.model, fresh.sample, fresh.t) == ("upload: mine.pt", 4, 9)


def test_a_refused_run_leaves_only_valid_choices_on_offer(exported, other):
    data, _ = exported
    bounds, encodings = other.param.sample.bounds, list(other.param.encoding.objects)
    with pytest.raises(Exception, match="do not run here"):
        other.load_run_file(with_meta(data, encoding="events"), "events.npz")
    assert other.param.sample.bounds == bounds and other.param.encoding.objects == encodings


def test_a_run_of_a_trained_event_snn_restores_from_an_ann_session(other):
    src = Session(model="events-classifier")
    src.t = 5
    res = other.load_run_file(src.export_run(), "events.npz")
    assert res.matches, res.differences
    assert (other.model, other.encoding, other.timesteps, other.t) == \
        ("events-classifier", "events", src.timesteps, 5)
