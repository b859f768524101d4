"""The dashboard's view-model: one simulation session, with no Panel imports.

A :class:`Session` holds what the user chose (model, data set, sample, code, encoding,
normalization percentile, neuron model and parameters, T), the converted network (cached per
parameter set), the recording of the whole run of T steps for one sample (it takes
milliseconds), and a time cursor ``t``: the number of steps shown so far. Step/Run/Pause/Reset
move the cursor; every view draws the recording up to ``t``. The same model drives the notebook
and the app.

The concerns live in mixins: :mod:`.playback` (cursor and Run), :mod:`.traces` (membrane
traces), :mod:`.readout` (what the views read from the recording), :mod:`.transfer` (upload and
export) and :mod:`.evaluation` (the test-set evaluation thread).
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import param
import torch

from spikescope import datasets, zoo
from spikescope.codes.encoders import ENCODERS, encode
from spikescope.neurons import NEURONS, RESETS
from spikescope.sim.network import CODES, SpikingNetwork

from .catalog import (
    BUDGET_HINT,
    CALIBRATION_SIZE,
    PERCENTILES,
    accepts_leak,
    convert_network,
    default_choice,
    is_trained_snn,
    model_names,
    nbytes,
    percentile_value,
    release_memory,
    shared_dataset,
    snn_info,
    snn_task,
)
from .evaluation import Evaluation, Evaluator, platform_names
from .playback import Playback
from .readout import Readout
from .traces import Traces
from .transfer import MAX_UPLOAD_BYTES, UPLOAD_DATASETS, UPLOAD_PREFIX, Transfer

__all__ = ["CACHE_SIZE", "CALIBRATION_SIZE", "MAX_MEMBRANE_CELLS", "MAX_TRAIN_CELLS",
           "MAX_UPLOAD_BYTES", "MEMBRANE_NEURONS", "PERCENTILES", "UPLOAD_DATASETS",
           "UPLOAD_PREFIX", "Evaluation", "Session", "is_trained_snn", "percentile_value",
           "platform_names", "shared_dataset", "snn_info", "snn_task"]

CACHE_SIZE = 8
#: The choices a run depends on (restored together after a choice that does not run).
CHOICES = ("model", "dataset", "sample", "code", "encoding", "percentile", "timesteps",
           "threshold", "leak", "neuron", "reset", "clamp_delay")
#: Recording limits per session (server memory stays bounded under many sessions): at most
#: this many recorded membrane values (steps x neurons); beyond it only the traced and the
#: most active neurons' membranes are kept (others are recorded again when traced) ...
MAX_MEMBRANE_CELLS = 1_000_000
#: ... and at most this many recorded spike-train cells (steps x neurons): a longer run is
#: cut to the T that fits (with a note while it applies), since rasters need every step. The
#: server's operator raises it with this environment variable.
TRAIN_CELLS_ENV = "SPIKESCOPE_MAX_TRAIN_CELLS"
MAX_TRAIN_CELLS = int(os.environ.get(TRAIN_CELLS_ENV, 8_000_000))
#: Membranes kept per layer when the membrane limit applies.
MEMBRANE_NEURONS = 64
#: The neuron model a session starts with, and the one a leak < 1 selects when the chosen
#: model does not leak.
DEFAULT_NEURON, LEAKY_NEURON = "if", "lif"
TRAINED_NOTE = ("Trained SNN (surrogate gradients): it runs as trained, on event frames; "
                "percentile, code, threshold, leak, neuron model, reset and clamp delay do "
                "not apply.")


def t_cap_note(t_fit: int, asked: int, neurons: int) -> str:
    """Why T is cut to ``t_fit`` steps and how to raise it."""
    return (f"T is limited to {t_fit} steps for this model (asked {asked}): the rasters keep "
            f"every step of all {neurons:,} neurons, at most {MAX_TRAIN_CELLS:,} neuron-steps "
            f"per session (recording limit, server memory). To raise it, start the server with "
            f"a larger ${TRAIN_CELLS_ENV} (memory per session grows with it), or choose a "
            f"smaller model.")


class RoundedNumber(param.Number):
    """A Number kept to 6 decimals: a slider's 0.7999999999999999 (0.05 steps in binary
    floating point) is stored, shown and put into the URL as 0.8."""

    def __set__(self, obj, val):
        if isinstance(val, float):
            val = round(val, 6)
        super().__set__(obj, val)


class Session(Playback, Traces, Readout, Transfer, Evaluator, param.Parameterized):
    """One user's simulation: choices, converted network, recording and time cursor."""

    model = param.Selector(default=None, objects=[], doc=(
        "Trained ANN from the model zoo (converted), a directly trained event SNN, or a "
        "model uploaded in this session."))
    dataset = param.Selector(default=None, objects=[], doc="Data set the samples come from.")
    sample = param.Integer(default=0, bounds=(0, None),
                           doc="Index of the test sample fed to the network.")
    code = param.Selector(default="rate", objects=[],
                          doc="Spike code of the converted network (spikescope.sim.network.CODES).")
    encoding = param.Selector(default="analog", objects=[],
                              doc="How the input becomes per-step input (spikescope ENCODERS).")
    percentile = param.Selector(default=99.9, objects=PERCENTILES,
                                doc="Normalization percentile p of the ReLU activations "
                                    "(max = max-norm, off = no normalization).")
    timesteps = param.Integer(default=100, bounds=(1, 1000),
                              doc="Simulation length T in steps of dt (1 ms).")
    threshold = RoundedNumber(default=1.0, bounds=(0.05, 5.0), softbounds=(0.1, 2.0),
                             doc="Firing threshold (normalized units).")
    leak = RoundedNumber(default=1.0, bounds=(0.5, 1.0),
                        doc="Multiplicative leak per step; 1 = non-leaky IF.")
    neuron = param.Selector(default=DEFAULT_NEURON, objects=[DEFAULT_NEURON], doc=(
        "Neuron model of the converted network (spikescope.neurons.NEURONS, read when the "
        "session is created). A leak < 1 selects 'lif' when the model does not leak; a model "
        "that does not leak sets the leak to 1."))
    reset = param.Selector(default="subtract", objects=list(RESETS),
                           doc="Reset after a spike: subtract the threshold or set V to 0.")
    clamp_delay = param.Integer(default=0, bounds=(0, 20),
                                doc="Membrane of layer l is held at 0 for the first d*l steps.")

    error = param.String(default="", doc="Message of the last error the user caused.")
    notice = param.String(default="", doc="Note on the current model or run (e.g. limits).")
    version = param.Integer(default=0, doc="Bumped whenever a new recording is available.")

    def __init__(self, **params):
        models = model_names()
        self.param.model.objects = models
        self.uploads: dict = {}  # name -> nn.Module uploaded in this session
        self.param.dataset.objects = datasets.names()
        self.param.code.objects = list(CODES)
        self.param.encoding.objects = list(ENCODERS)
        self.param.neuron.objects = NEURONS.names()  # models registered by now, user's too
        plats = platform_names()
        self.param.platform.objects = plats
        params.setdefault("model", default_choice(models, "digits-cnn"))
        if is_trained_snn(params["model"]):
            params.setdefault("dataset", zoo.SNN_MODELS[params["model"]])
            params.setdefault("encoding", "events")
            params.setdefault("timesteps", snn_info(params["model"]).get("timesteps", 20))
        if "dataset" not in params and params["model"] is not None:
            params["dataset"] = zoo.dataset_of(params["model"])
        if "neuron" not in params and not accepts_leak(DEFAULT_NEURON, params.get("leak", 1.0)):
            params["neuron"] = LEAKY_NEURON
        params.setdefault("platform", default_choice(plats, "Loihi"))
        super().__init__(**params)
        self._nets: OrderedDict = OrderedDict()
        self._data: dict = {}
        self._callback = None  # periodic callback of Run (set by the app)
        self._init_evaluation()
        self.net = None
        self.ann = None
        self.recording = None
        self.x = None  # (1, ...) the sample, or (T, 1, ...) event frames
        self.label = None
        self.inputs = None  # (T, 1, ...) the encoded input the network saw
        self.ann_output = None  # (C,) the original ANN's output for this sample
        self.ann_rates = None  # per layer (N,) normalized ANN activations (target rates)
        self.source_image = None  # (H, W) still image an event sample was recorded from
        self._ann_timesteps = None  # T of the last ANN, restored when leaving a trained SNN
        self._asked_timesteps = None  # the T asked for while the recording limit cuts it
        if self.trained:
            self._ann_timesteps = self.param.timesteps.default
        self._neuron_leak = (self.neuron, self.leak)  # the last consistent pair
        self._valid: dict = {}  # the choices of the run shown (restored after a bad choice)
        self._reverting = False
        self.recompute()
        if self.recording is None:  # views need one run to draw; later errors keep the last
            raise RuntimeError(f"the first simulation failed: {self.error}")

    # ------------------------------------------------------------------ data and networks
    def _dataset(self, name: str, split: str):
        return shared_dataset(name, split)

    @property
    def trained(self) -> bool:
        """True when the model is a directly trained SNN (runs without conversion)."""
        return is_trained_snn(self.model)

    @property
    def task(self) -> str:
        """"classification" or "reconstruction" (output image) of the current model."""
        if self.trained:
            return snn_task(self.model)
        return zoo.task_of(self.model) if self.model in zoo.names() else "classification"

    @property
    def n_samples(self) -> int:
        """Test samples of the current data set."""
        return len(self._dataset(self.dataset, "test")[1])

    def network_key(self) -> tuple:
        """What the converted network depends on (its cache key; the evaluation converts
        from it too)."""
        return (self.model, self.dataset, self.code, self.percentile, self.reset,
                float(self.threshold), float(self.leak), int(self.clamp_delay), self.neuron)

    def network(self) -> tuple[SpikingNetwork, torch.nn.Module | None]:
        """The converted network for the current parameter set (LRU-cached per session)."""
        key = (self.model,) if self.trained else self.network_key()
        if key in self._nets:
            self._nets.move_to_end(key)
            return self._nets[key]
        if self.trained:
            self._nets[key] = (zoo.load_network(self.model), None)
            return self._nets[key]
        ann = self.uploads[self.model] if self.model in self.uploads else zoo.load(self.model)
        xtr, _ = self._dataset(self.dataset, "train")
        calib = xtr[:CALIBRATION_SIZE]
        if calib.dim() == len(xtr.shape) and self.encoding == "events" and calib.dim() > 4:
            calib = calib.mean(1)  # event frames (N, T, ...): calibrate on their time average
        net = convert_network(ann, calib, key)
        self._nets[key] = (net, ann)
        self.trim_cache()
        held = self.memory_bytes()
        if held > self.memory_budget:
            del self._nets[key]
            raise ValueError(
                f"this {sum(net.n_neurons):,}-neuron network takes {held / 2**20:.0f} MB with "
                f"what the session holds, over its {self.memory_budget / 2**20:.0f} MB memory "
                f"budget ({BUDGET_HINT})")
        return net, ann

    def trim_cache(self, keep: int = CACHE_SIZE) -> None:
        """Drop the least recently used converted networks: at most ``keep`` (and
        ``CACHE_SIZE``), fewer while the session holds more than its ``memory_budget``; the
        most recent one stays."""
        while len(self._nets) > max(1, min(keep, CACHE_SIZE)):
            self._nets.popitem(last=False)
        while len(self._nets) > 1 and self.memory_bytes() > self.memory_budget:
            self._nets.popitem(last=False)

    def memory_bytes(self) -> int:
        """Bytes of tensors this session holds: converted networks and their ANNs, uploads,
        the run shown and the evaluation result (``widgets.catalog.nbytes``)."""
        return nbytes([self._nets, self.uploads, self.recording, self.inputs,
                       self.ann_rates, self.evaluation])

    def close(self) -> None:
        """Free what this session holds when its page closes (the app calls it from
        ``pn.state.on_session_destroyed``): Run stops, a running evaluation is cancelled
        (it applies nothing when it ends), networks, uploads, runs and the evaluation are
        dropped and the freed memory goes back to the system. No view updates: the page is
        gone."""
        self._closed = True
        self.cancel_evaluation()
        with param.parameterized.discard_events(self):
            self.running = False
            self.evaluation = None
        self._nets.clear()
        self.uploads.clear()
        self.net = self.ann = self.recording = self.inputs = self.x = None
        self.ann_output = self.ann_rates = self.source_image = None
        release_memory()

    def _sample_input(self, net) -> tuple[torch.Tensor, int]:
        x, y = self._dataset(self.dataset, "test")
        i = min(self.sample, len(y) - 1)
        xi = x[i]
        if self.encoding == "events":
            if xi.dim() == len(net.input_shape) + 1:
                xi = xi.unsqueeze(1)  # (T, ...) -> (T, 1, ...)
                T = int(self.timesteps)
                if T > len(xi):  # the recording is over: no more events
                    xi = torch.cat([xi, xi.new_zeros((T - len(xi), *xi.shape[1:]))])
                return xi, int(y[i])
            raise ValueError(f"the events encoding needs an event data set (frames over "
                             f"time); {self.dataset!r} holds static images")
        return xi.unsqueeze(0), int(y[i])

    # ------------------------------------------------------------------ simulation
    @param.depends("model", watch=True, on_init=False)
    def _model_changed(self):
        """Pick the model's data set (and for trained event SNNs events input and their T);
        one recompute for all of it."""
        self.param.encoding.objects = list(ENCODERS)  # narrowed again after the run
        if self.trained:
            ds, enc = zoo.SNN_MODELS[self.model], "events"
            T = int(snn_info(self.model).get("timesteps", 20))
            if self._ann_timesteps is None:
                self._ann_timesteps = self.timesteps
        else:
            try:
                ds = (self.uploads[self.model].dataset if self.model in self.uploads
                      else zoo.dataset_of(self.model))
            except ValueError:
                return
            enc = "analog" if self.encoding == "events" else None
            T, self._ann_timesteps = self._ann_timesteps, None
        changes = {}
        if ds in self.param.dataset.objects and ds != self.dataset:
            changes["dataset"] = ds
        if enc is not None and enc != self.encoding:
            changes["encoding"] = enc
        if T is not None and T != self.timesteps:
            changes["timesteps"] = T
        if changes:
            self.param.update(**changes)  # recompute runs once through its watcher
        else:
            self.recompute()

    def _fix_neuron(self) -> bool:
        """Keep neuron model and leak consistent: a leak the model does not take selects the
        leaky model; choosing a model that does not leak sets the leak to 1. True if it
        changed one of them (that change recomputes)."""
        if accepts_leak(self.neuron, self.leak):
            self._neuron_leak = (self.neuron, self.leak)
            return False
        if self.neuron != self._neuron_leak[0] or LEAKY_NEURON not in NEURONS:
            fix = {"leak": 1.0}
        else:
            fix = {"neuron": LEAKY_NEURON}
        if all(getattr(self, k) == v for k, v in fix.items()):
            return False  # nothing to fix here: the conversion says what is wrong
        self.param.update(**fix)
        return True

    @param.depends("dataset", "sample", "code", "encoding", "percentile", "timesteps",
                   "threshold", "leak", "neuron", "reset", "clamp_delay", watch=True,
                   on_init=False)
    def recompute(self) -> None:
        """Convert (cached) and simulate all T steps for the current sample.

        An error the user caused is stored in ``error``; the previous run stays shown.
        """
        self._stop()
        if self._reverting:
            return  # back to the choices of the run shown: nothing to simulate
        if self._fix_neuron():
            return  # re-entered with a consistent neuron model and leak
        try:
            n = self.n_samples
            if self.sample >= n and self.sample == self._valid.get("sample"):
                self.sample = n - 1  # a smaller data set: its last sample (re-enters)
                return
            if self.sample >= n:
                raise ValueError(f"sample {self.sample} does not exist: the {self.dataset!r} "
                                 f"test set has {n} samples (0..{n - 1})")
            net, ann = self.network()
            notes = [TRAINED_NOTE] if self.trained else []
            T = int(self.timesteps)
            t_fit = max(1, MAX_TRAIN_CELLS // max(sum(net.n_neurons), 1))
            if T > t_fit:  # recording limit: bounded memory per session
                self._asked_timesteps = T
                self.timesteps = t_fit  # re-enters recompute with the capped T
                return
            if T < t_fit or (self._asked_timesteps or 0) <= t_fit:
                self._asked_timesteps = None  # a T that fits: no limit applies
            if self._asked_timesteps is not None:  # shown for as long as T stays cut
                notes.append(t_cap_note(t_fit, self._asked_timesteps, sum(net.n_neurons)))
            mismatch = {"ttfs": "ttfs", "pattern": "pattern"}.get(self.encoding)
            if mismatch and not self.trained and not str(self.code).startswith(mismatch):
                notes.append(f"{self.encoding} input is meant for the {mismatch} code: "
                             f"this {self.code}-code network does not read it that way, so "
                             f"its answer is not meaningful (choose code {mismatch}, or "
                             f"analog or poisson input).")
            x, label = self._sample_input(net)
            with torch.no_grad():
                static = x if self.encoding != "events" else x.mean(0)
                ann_rates = [a.reshape(-1) for a in net.ann_activations(static)]
                rec = net.run(x, T, encoding=self.encoding,
                              neurons=self._membrane_neurons(net, T, ann_rates))
                inputs = encode(x, T, self.encoding, dt_ms=net.dt_ms)
                # a trained SNN has no ANN: its reference answer is its own at T
                ann_out = (ann(static).reshape(-1) if ann is not None
                           else rec.output_counts[-1, 0].float())
            source = self._source_image()
        except Exception as e:  # shown to the user; the session keeps working
            self._revert(e)
            return
        self.net, self.ann, self.recording = net, ann, rec
        self.trim_cache()  # a network holds more once it has run (its state, fan-outs)
        self.x, self.label, self.inputs = x, label, inputs
        self.ann_output, self.ann_rates = ann_out, ann_rates
        self.source_image = source
        self.notice = " ".join(notes)
        self.traces = [tr for tr in self.traces
                       if tr[0] < len(net.n_neurons) and tr[1] < net.n_neurons[tr[0]]]
        if not self.traces:
            self.traces = self.default_traces()
        self.error = ""
        self._valid = {k: getattr(self, k) for k in CHOICES}
        self._offer_valid_choices(net)
        with param.parameterized.batch_call_watchers(self):
            self.param.t.bounds = (0, T)
            self.t = min(self.t, T)
            self.version += 1

    def _offer_valid_choices(self, net) -> None:
        """Only choices that fit the run shown: samples of this data set, and the events
        encoding only for event data (frames over time)."""
        n = self.n_samples
        self.param.sample.bounds = (0, max(n - 1, 0))
        x, _ = self._dataset(self.dataset, "test")
        events = x.dim() > len(net.input_shape) + 1
        objects = list(ENCODERS) if events else [e for e in ENCODERS if e != "events"]
        if self.param.encoding.objects != objects:
            self.param.encoding.objects = objects

    def _revert(self, e: Exception) -> None:
        """A choice that does not run: back to the choices of the run shown, and say in
        words what went wrong and what fits."""
        bad = {k: getattr(self, k) for k in CHOICES
               if k in self._valid and getattr(self, k) != self._valid[k]}
        if not bad:  # nothing to go back to (the first run)
            self.error = f"{type(e).__name__}: {e}"
            return
        what = ", ".join(f"{k} {v!r}" for k, v in bad.items())
        if "dataset" in bad or "model" in bad:
            try:
                home = zoo.dataset_of(self.model) if not self.trained else \
                    zoo.SNN_MODELS[self.model]
            except Exception:  # noqa: BLE001 - an uploaded model: no home data set
                home = self._valid.get("dataset")
            why = (f"{self.model} does not take {self.dataset} samples (it takes those of "
                   f"{home})")
        elif isinstance(e, ValueError):  # the core's own messages say what fits
            why = str(e)
        else:
            why = f"{type(e).__name__}: {e}"
        back = ", ".join(f"{k} {self._valid[k]!r}" for k in bad)
        self._reverting = True
        try:
            self.param.update(**{k: self._valid[k] for k in bad})
        finally:
            self._reverting = False
        self.error = f"{what} does not work here: {why}. Back to {back}."

    def _membrane_neurons(self, net, T: int, ann_rates) -> dict | None:
        """Neurons whose membrane is recorded: all (None) within ``MAX_MEMBRANE_CELLS``, else
        per layer the traced neurons and the ``MEMBRANE_NEURONS`` most active in the ANN."""
        if T * sum(net.n_neurons) <= MAX_MEMBRANE_CELLS:
            return None
        out = {}
        for l, n in enumerate(net.n_neurons):
            k = min(MEMBRANE_NEURONS, n)
            top = torch.topk(ann_rates[l].float(), k).indices.tolist() if l < len(ann_rates) \
                else list(range(k))
            out[l] = sorted(set(top) | {i for (tl, i) in self.traces if tl == l and i < n})
        return out

    def _source_image(self) -> np.ndarray | None:
        """The still image an event sample was recorded from (event data sets that have one)."""
        if self.encoding != "events":
            return None
        try:
            _, images = shared_dataset(self.dataset, "test", "image")
        except (TypeError, ValueError):  # a data set without still images
            return None
        img = images[min(self.sample, len(images) - 1)].float().cpu().numpy()
        while img.ndim > 2:
            img = img.mean(0)
        return img

