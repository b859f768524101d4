"""The dashboard's view-model: one simulation session, with no Panel imports.

A :class:`Session` holds what the user chose (model, data set, sample, code, encoding,
normalization percentile, neuron parameters, T), the converted network (cached per parameter
set), the recording of the whole run of T steps for one sample (it takes milliseconds), and a
time cursor ``t``: the number of steps shown so far. Step/Run/Pause/Reset move the cursor;
every view draws the recording up to ``t``. The same model drives the notebook and the app.
"""

from __future__ import annotations

import functools
import importlib.util
import random
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import param
import torch

from spikescope import datasets, io, zoo
from spikescope.codes.encoders import ENCODERS, encode
from spikescope.convert import convert
from spikescope.metrics import confusion_matrix
from spikescope.neurons import RESETS
from spikescope.sim.network import CODES
from spikescope.sim.recording import Recording

#: Percentile choices: fine steps near 100, then "max" (= 100, max-norm) and "off" (None).
PERCENTILES: list = [90.0, 95.0, 97.0, 98.0, 99.0, 99.5, 99.7, 99.9, 99.95, 99.99, "max", "off"]
CALIBRATION_SIZE = 128
CACHE_SIZE = 8
#: Recording limits per session (server memory stays bounded under many sessions): at most
#: this many recorded membrane values (steps x neurons); beyond it only the traced and the
#: most active neurons' membranes are kept (others are recorded again when traced) ...
MAX_MEMBRANE_CELLS = 1_000_000
#: ... and at most this many recorded spike-train cells (steps x neurons): a longer run is
#: cut to the T that fits (with a note), since rasters need every step.
MAX_TRAIN_CELLS = 8_000_000
#: Membranes kept per layer when the membrane limit applies.
MEMBRANE_NEURONS = 64
#: Largest model file the upload accepts (bytes).
MAX_UPLOAD_BYTES = 20_000_000
UPLOAD_PREFIX = "upload: "
#: Data sets an uploaded model may take (the one matching its input shape is used).
UPLOAD_DATASETS = ("digits", "digits28", "mnist1d")
TRAINED_NOTE = ("Trained SNN (surrogate gradients): it runs as trained, on event frames; "
                "percentile, code, threshold, leak, reset and clamp delay do not apply.")


@functools.lru_cache(maxsize=16)
def shared_dataset(name: str, split: str, target: str = "label"):
    """``datasets.load`` shared by all sessions (read-only tensors: loaded once per server)."""
    kwargs = {} if target == "label" else {"target": target}
    return datasets.load(name, split, **kwargs)


def is_trained_snn(model: str | None) -> bool:
    """True for the directly trained event SNNs of the zoo (no conversion)."""
    return model in zoo.SNN_MODELS


@functools.cache
def snn_info(model: str) -> dict:
    """``zoo.snn_info`` read once per server (the shipped metadata does not change)."""
    return zoo.snn_info(model)


def snn_task(model: str) -> str:
    """"classification" or "reconstruction" of a trained SNN (from its shipped info)."""
    return snn_info(model).get("task", "classification")


def percentile_value(choice) -> float | None:
    """The ``percentile`` argument of :func:`spikescope.convert` for a slider choice."""
    if choice == "max":
        return 100.0
    if choice == "off" or choice is None:
        return None
    return float(choice)


def energy_module():
    """``spikescope.energy`` when it is installed, else None."""
    if importlib.util.find_spec("spikescope.energy") is None:
        return None
    import spikescope.energy as energy

    return energy


def platform_names() -> list[str]:
    """Names of the neuromorphic platforms in ``spikescope.energy.PLATFORMS`` (if any)."""
    energy = energy_module()
    plats = getattr(energy, "PLATFORMS", {}) if energy else {}
    return [n for n, p in plats.items() if getattr(p, "kind", "neuromorphic") == "neuromorphic"]


def _default(choices: list[str], preferred: str) -> str | None:
    if preferred in choices:
        return preferred
    return choices[0] if choices else None


@dataclass
class Evaluation:
    """Result of running ANN and SNN over a test set: everything the evaluation tab draws."""

    n_samples: int
    n_classes: int
    ann_confusion: np.ndarray  # (C, C) counts, row = true class
    snn_confusion: np.ndarray
    ann_accuracy: float
    accuracy_curve: np.ndarray  # (T,) SNN accuracy after each step
    synaptic_ops: np.ndarray  # (T,) cumulative synaptic operations per sample
    dt_ms: float
    recording: Recording | None = None  # the whole test set run (no spike trains)
    labels: torch.Tensor | None = None


class Session(param.Parameterized):
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
    threshold = param.Number(default=1.0, bounds=(0.05, 5.0), softbounds=(0.1, 2.0),
                             doc="Firing threshold (normalized units).")
    leak = param.Number(default=1.0, bounds=(0.5, 1.0),
                        doc="Multiplicative leak per step; 1 = non-leaky IF.")
    reset = param.Selector(default="subtract", objects=list(RESETS),
                           doc="Reset after a spike: subtract the threshold or set V to 0.")
    clamp_delay = param.Integer(default=0, bounds=(0, 20),
                                doc="Membrane of layer l is held at 0 for the first d*l steps.")
    speed = param.Integer(default=25, bounds=(1, 200), doc="Run animation speed in steps per s.")

    t = param.Integer(default=0, bounds=(0, 100), doc="Time cursor: steps shown so far (ms).")
    running = param.Boolean(default=False, doc="True while Run animates the cursor.")
    error = param.String(default="", doc="Message of the last error the user caused.")
    notice = param.String(default="", doc="Note on the current model or run (e.g. limits).")
    version = param.Integer(default=0, doc="Bumped whenever a new recording is available.")
    traces = param.List(default=[], item_type=tuple,
                        doc="Neurons whose membrane is traced, as (layer, flat index).")
    max_traces = param.Integer(default=6, doc="At most this many membrane traces.")

    step = param.Event(doc="Advance the cursor one step.")
    run = param.Event(doc="Animate the cursor until T at `speed` steps per second.")
    pause = param.Event(doc="Stop the animation.")
    reset_run = param.Event(label="Reset", doc="Move the cursor back to t = 0.")
    random_sample = param.Event(label="Random sample", doc="Pick a random test sample.")

    # evaluation over the test set
    eval_samples = param.Integer(default=360, bounds=(10, None),
                                 doc="Test samples used by the evaluation.")
    eval_progress = param.Number(default=0.0, bounds=(0, 1), doc="Evaluation progress, 0..1.")
    eval_running = param.Boolean(default=False, doc="True while the evaluation runs.")
    evaluation = param.Parameter(default=None, doc="Latest Evaluation result (or None).")
    platform = param.Selector(default=None, objects=[], allow_None=True,
                              doc="Neuromorphic platform for energy figures.")

    def __init__(self, **params):
        models = zoo.names() + zoo.snn_names()
        data = datasets.names()
        self.param.model.objects = models
        self.uploads: dict = {}  # name -> nn.Module uploaded in this session
        self.param.dataset.objects = data
        self.param.code.objects = list(CODES)
        self.param.encoding.objects = list(ENCODERS)
        plats = platform_names()
        self.param.platform.objects = plats
        params.setdefault("model", _default(models, "digits-cnn"))
        if is_trained_snn(params["model"]):
            params.setdefault("dataset", zoo.SNN_MODELS[params["model"]])
            params.setdefault("encoding", "events")
            params.setdefault("timesteps", snn_info(params["model"]).get("timesteps", 20))
        if "dataset" not in params and params["model"] is not None:
            params["dataset"] = zoo.dataset_of(params["model"])
        params.setdefault("platform", _default(plats, "Loihi"))
        super().__init__(**params)
        self._nets: OrderedDict = OrderedDict()
        self._data: dict = {}
        self._callback = None  # periodic callback of Run (set by the app)
        self._cancel = threading.Event()
        self._eval_thread: threading.Thread | None = None
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
        self._capped = False  # the last T asked for exceeded the recording limit
        if self.trained:
            self._ann_timesteps = self.param.timesteps.default
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
        return "classification"

    @property
    def n_samples(self) -> int:
        return len(self._dataset(self.dataset, "test")[1])

    def network_key(self) -> tuple:
        return (self.model, self.dataset, self.code, self.percentile, self.reset,
                float(self.threshold), float(self.leak), int(self.clamp_delay))

    def network(self):
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
        net = convert(ann, calib, percentile=percentile_value(self.percentile), code=self.code,
                      reset=self.reset, threshold=self.threshold, leak=self.leak,
                      clamp_delay=self.clamp_delay)
        self._nets[key] = (net, ann)
        while len(self._nets) > CACHE_SIZE:
            self._nets.popitem(last=False)
        return net, ann

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

    @param.depends("dataset", "sample", "code", "encoding", "percentile", "timesteps",
                   "threshold", "leak", "reset", "clamp_delay", watch=True, on_init=False)
    def recompute(self):
        """Convert (cached) and simulate all T steps for the current sample.

        An error the user caused is stored in ``error``; the previous run stays shown.
        """
        self._stop()
        try:
            n = self.n_samples
            if self.sample >= n:
                raise ValueError(f"sample {self.sample} does not exist: the {self.dataset!r} "
                                 f"test set has {n} samples (0..{n - 1})")
            net, ann = self.network()
            notes = [TRAINED_NOTE] if self.trained else []
            T = int(self.timesteps)
            t_fit = max(1, MAX_TRAIN_CELLS // max(sum(net.n_neurons), 1))
            if T > t_fit:  # recording limit: bounded memory per session
                self._capped = True
                self.timesteps = t_fit  # re-enters recompute with the capped T
                return
            if self._capped and T == t_fit:
                notes.append(f"T is limited to {t_fit} steps for this model (recording limit "
                             f"of {MAX_TRAIN_CELLS:,} neuron-steps per session).")
            self._capped = False
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
            self.error = f"{type(e).__name__}: {e}"
            return
        self.net, self.ann, self.recording = net, ann, rec
        self.x, self.label, self.inputs = x, label, inputs
        self.ann_output, self.ann_rates = ann_out, ann_rates
        self.source_image = source
        self.notice = " ".join(notes)
        self.traces = [tr for tr in self.traces
                       if tr[0] < len(net.n_neurons) and tr[1] < net.n_neurons[tr[0]]]
        if not self.traces:
            self.traces = self.default_traces()
        self.error = ""
        with param.parameterized.batch_call_watchers(self):
            self.param.t.bounds = (0, T)
            self.t = min(self.t, T)
            self.version += 1

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

    def _recorded(self, layer: int) -> set | None:
        """Neurons of ``layer`` whose membrane is recorded (None = all)."""
        idx = getattr(self.recording, "membrane_neurons", None)
        if idx is None or self.recording.membrane is None:
            return None
        return set(idx[layer].tolist())

    def default_traces(self) -> list[tuple[int, int]]:
        """The most active neuron of the last hidden layer and the output of the ANN's class
        (among recorded membranes)."""
        rec = self.recording
        out = []
        L = len(rec.spike_counts)
        if L > 1:
            l = L - 2
            counts = rec.spike_counts[l][0].float().clone()
            keep = self._recorded(l)
            if keep is not None:
                mask = torch.full_like(counts, -1.0)
                mask[sorted(keep)] = 0.0
                counts = torch.where(mask == 0, counts, mask)
            out.append((l, int(counts.argmax())))
        c = int(self.ann_output.argmax())
        keep = self._recorded(L - 1)
        if keep is None or c in keep:
            out.append((L - 1, c))
        return out

    def add_trace(self, layer: int, neuron: int) -> None:
        """Trace the membrane of ``neuron`` (flat index) of ``layer``; oldest trace drops out."""
        if self.net is None:
            return
        if not (0 <= layer < len(self.net.n_neurons)) or not (
                0 <= neuron < self.net.n_neurons[layer]):
            self.error = f"no neuron {neuron} in layer {layer}"
            return
        tr = (int(layer), int(neuron))
        traces = [x for x in self.traces if x != tr] + [tr]
        self.traces = traces[-self.max_traces:]
        keep = self._recorded(tr[0])
        if keep is not None and tr[1] not in keep:
            self.recompute()  # membrane limit: record this neuron's membrane too

    def trace_by_rate(self, layer: int, which: str = "max") -> None:
        """Add the neuron of ``layer`` with the highest (``max``) or median rate so far."""
        counts = self.counts_at(self.t or self.timesteps)[layer]
        if which == "max":
            idx = int(counts.argmax())
        else:
            active = np.flatnonzero(counts > 0)
            idx = int(active[np.argsort(counts[active])[len(active) // 2]]) if len(active) \
                else 0
        self.add_trace(layer, idx)

    # ------------------------------------------------------------------ derived data
    @property
    def layer_names(self) -> list[str]:
        return list(self.recording.layer_names) if self.recording is not None else []

    @property
    def dt_ms(self) -> float:
        return float(self.recording.dt_ms) if self.recording is not None else 1.0

    def counts_at(self, t: int) -> list[np.ndarray]:
        """Spikes per neuron of each layer in the first ``t`` steps."""
        rec = self.recording
        if t <= 0:
            return [np.zeros(c.shape[1], dtype=np.int64) for c in rec.spike_counts]
        return [tr[:t, 0].sum(0).cpu().numpy().astype(np.int64) for tr in rec.spike_trains]

    def spikes_at(self, t: int) -> int:
        """Total spikes of all layers in the first ``t`` steps."""
        if self.recording is None or t <= 0:
            return 0
        return int(self.recording.layer_spikes[:t, 0].sum())

    def rates_hz(self, t: int) -> list[np.ndarray]:
        """Firing rate per neuron (Hz) over the first ``t`` steps."""
        dur_s = max(t, 1) * self.dt_ms * 1e-3
        return [c / dur_s for c in self.counts_at(t)]

    def activity(self, t: int) -> list[dict]:
        """Per layer: mean rate (Hz), saturated share (fired every step), silent share,
        correlation of ANN activation and SNN rate (spikes per step), lambda."""
        out = []
        counts = self.counts_at(t)
        for l, (name, c) in enumerate(zip(self.layer_names, counts)):
            rate_step = c / max(t, 1)
            target = self.ann_rates[l].cpu().numpy()
            if t > 0 and rate_step.std() > 0 and target.std() > 0:
                corr = float(np.corrcoef(target, rate_step)[0, 1])
            else:
                corr = float("nan")
            out.append({
                "layer": name,
                "rate_hz": float(c.mean() / (max(t, 1) * self.dt_ms * 1e-3)),
                "saturated": float((c >= t).mean()) if t > 0 else 0.0,
                "silent": float((c == 0).mean()),
                "correlation": corr,
                "lambda": float(self.net.lambdas[l]) if l < len(self.net.lambdas) else 1.0,
            })
        return out

    def suggestion(self, t: int | None = None) -> str:
        """A one-line hint on the normalization percentile from saturation and silence."""
        t = self.timesteps if t is None else t
        if self.recording is None or t < 5:
            return "Run a few steps to get a percentile suggestion."
        act = self.activity(t)
        hidden = act[:-1] or act
        worst = max(hidden, key=lambda a: a["saturated"])
        idx = PERCENTILES.index(self.percentile)
        if worst["saturated"] > 0.05:
            nxt = PERCENTILES[idx + 1] if idx + 1 < len(PERCENTILES) - 1 else "max"
            return (f"{worst['layer']}: {worst['saturated']:.0%} saturated (firing every step): "
                    f"raise the percentile (try {nxt}) so lambda grows and rates drop below 1.")
        quiet = max(hidden, key=lambda a: a["silent"])
        peak = max(a["rate_hz"] for a in hidden)
        if quiet["silent"] > 0.9 or peak < 0.02 * 1000.0 / self.dt_ms:
            prev = PERCENTILES[idx - 1] if 0 < idx < len(PERCENTILES) - 1 else 99.9
            return (f"{quiet['layer']}: {quiet['silent']:.0%} silent: rates are low, lower the "
                    f"percentile (try {prev}) or raise T.")
        return (f"Percentile {self.percentile} looks fine: at most "
                f"{worst['saturated']:.0%} saturated ({worst['layer']}).")

    def decoded_input(self, t: int) -> np.ndarray:
        """The network's view of the input: the mean encoded input of the first ``t`` steps.

        For event input (ON/OFF frames): the event count per pixel so far, ON + OFF, scaled
        to [0, 1] (the saccades' ON and OFF events largely cancel in ON - OFF, so the count
        shows the digit's edges; :meth:`event_image` gives the signed ON - OFF image).
        """
        if self.encoding == "events" and self.inputs.dim() >= 5 and self.inputs.shape[2] == 2:
            frames = self.inputs[: max(t, 0), 0].float()
            total = frames.sum((0, 1)).cpu().numpy() if t > 0 else np.zeros(
                self.inputs.shape[-2:], np.float32)
            return total / max(float(total.max()), 1.0)
        inp = self.inputs[: max(t, 1), 0].float()
        img = inp.mean(0) if t > 0 else torch.zeros_like(inp[0])
        img = img.cpu().numpy()
        while img.ndim > 2:
            img = img.mean(0)
        return img[None] if img.ndim == 1 else img

    def event_image(self, t: int) -> np.ndarray:
        """Event input up to step ``t`` as one image: ON minus OFF events per pixel
        (channel 1 = ON, 0 = OFF, as in ``digits-events``); positive = brighter."""
        frames = self.inputs[: max(t, 0), 0].float()
        if frames.dim() < 4 or frames.shape[1] != 2:
            raise ValueError("event_image needs event frames with 2 polarity channels")
        counts = frames.sum(0).cpu().numpy() if t > 0 else np.zeros(frames.shape[1:],
                                                                      np.float32)
        return counts[1] - counts[0]

    def input_image(self) -> np.ndarray:
        """The sample as an image; for event samples the still image they were recorded from
        (when the data set has one), else the time-averaged event frames."""
        if self.encoding == "events" and self.source_image is not None:
            return self.source_image
        x = self.x[0] if self.encoding != "events" else self.x.mean(0)[0]
        img = x.float().cpu().numpy()
        while img.ndim > 2:
            img = img.mean(0)
        return img[None] if img.ndim == 1 else img

    def reconstruction(self, t: int) -> np.ndarray | None:
        """For models whose output is an image: the output spike counts so far, as an image."""
        shape = getattr(self.net.stages[-1], "out_shape", ())
        if len(shape) >= 2:
            hw = shape[-2:]
        else:
            hw = self.input_image().shape
            if int(np.prod(hw)) != self.net.n_classes:
                return None
        t = max(t, 1)
        counts = self.recording.output_counts[t - 1, 0].float().cpu().numpy()
        if self.trained:  # trained to emit `counts_per_unit` spikes for intensity 1
            unit = float(snn_info(self.model)["output"].get("counts_per_unit", 1.0))
            return np.clip(counts.reshape(shape).mean(0) / unit, 0.0, 1.0)
        if len(shape) >= 3:
            return counts.reshape(shape).mean(0) / t
        return counts.reshape(hw) / t

    # ------------------------------------------------------------------ actions
    @param.depends("step", watch=True)
    def _on_step(self):
        self._stop()
        self.advance(1)

    def advance(self, n: int = 1) -> bool:
        """Move the cursor ``n`` steps forward; False once it reached T."""
        if self.t >= self.timesteps:
            return False
        self.t = min(self.t + n, self.timesteps)
        return self.t < self.timesteps

    @param.depends("run", watch=True)
    def _on_run(self):
        if self.t >= self.timesteps:
            self.t = 0
        self._tick_at, self._tick_due = None, 0.0
        self.running = True

    @param.depends("pause", watch=True)
    def _on_pause(self):
        self._stop()

    @param.depends("reset_run", watch=True)
    def _on_reset(self):
        self._stop()
        self.t = 0

    @param.depends("random_sample", watch=True)
    def _on_random(self):
        self.sample = random.randrange(self.n_samples)

    def _stop(self):
        if self.running:
            self.running = False

    _tick_at: float | None = None  # perf_counter() of the last Run frame
    _tick_due: float = 0.0  # steps owed to the animation, not yet shown

    def tick(self) -> None:
        """One animation frame of Run: advance ``speed`` x (time since the last frame) steps,
        so a late frame skips steps and Run keeps ``speed`` steps/s; stop at T."""
        if not self.running:
            return
        now = time.perf_counter()
        since = None if self._tick_at is None else now - self._tick_at
        # the first frame, or one after a stall (a re-run, a busy server), counts one period
        elapsed = since if since is not None and since < 1.0 else self.period_ms() / 1000
        self._tick_at = now
        self._tick_due += self.speed * elapsed
        if since is None:  # Run shows its first step at once, also at low speeds
            self._tick_due = max(self._tick_due, 1.0)
        n = int(self._tick_due)
        if n == 0:
            return
        self._tick_due -= n
        if not self.advance(n):
            self.running = False

    def period_ms(self) -> int:
        """Animation frame period: one frame per step up to 20 steps/s, then 50 ms frames."""
        return int(max(50, 1000 / self.speed))

    # ------------------------------------------------------------------ upload and export
    def load_upload(self, data: bytes, filename: str = "model") -> io.ModelReport:
        """Load a user's model file (``spikescope.io.load_model``, size limit
        ``MAX_UPLOAD_BYTES``, never unpickles code) and report its layers.

        A convertible model joins the model choices of this session only and is selected;
        the report of one that is not says why. Errors of a bad file are raised
        (``ModelLoadError``, ``UnsafeModelError``, ...) and change nothing.
        """
        model = io.load_model(bytes(data), max_bytes=MAX_UPLOAD_BYTES, strict=False)
        shape, ds = _upload_input(model)
        report = io.inspect_model(model, shape)
        if not report.convertible:
            return report
        model.dataset = ds
        name = UPLOAD_PREFIX + (Path(filename).name or "model")
        while name in self.param.model.objects and name not in self.uploads:
            name += "'"
        self.uploads[name] = model
        if name not in self.param.model.objects:
            self.param.model.objects = [*self.param.model.objects, name]
        if self.model == name:
            self._nets = OrderedDict((k, v) for k, v in self._nets.items() if k[0] != name)
            self.recompute()
        else:
            self.model = name
        return report

    def run_params(self) -> dict:
        """The parameters that reproduce the current run (JSON-ready)."""
        out = {k: getattr(self, k) for k in ("model", "dataset", "sample", "code", "encoding",
                                             "percentile", "timesteps", "threshold", "leak",
                                             "reset", "clamp_delay", "t")}
        out.update(label=self.label, trained_snn=self.trained,
                   lambdas=[float(v) for v in self.net.lambdas])
        return out

    def export_run(self) -> bytes:
        """The current run as a ``spikescope.io.save_run`` file (.npz): parameters, the
        recording, the input image, the reference output and (if any) the reconstruction."""
        plots = {"input_image": self.input_image(),
                 "reference_output": self.ann_output.cpu().numpy()}
        rec = self.reconstruction(self.timesteps)
        if rec is not None:
            plots["reconstruction"] = rec
        with tempfile.TemporaryDirectory() as d:
            path = io.save_run(Path(d) / "run.npz", self.run_params(), self.recording,
                               plots=plots)
            return path.read_bytes()

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, *, blocking: bool = False, on_done=None, batch_size: int = 60) -> None:
        """Run ANN and SNN over the first ``eval_samples`` test samples.

        Off the caller's thread unless ``blocking``; ``cancel_evaluation`` stops it. The result
        lands in ``evaluation``; ``on_done(fn)`` (e.g. ``pn.state.execute``) is used to apply
        parameter updates on the UI thread.
        """
        if self.eval_running:
            return
        key = self.network_key()
        enc = self.encoding
        T = int(self.timesteps)
        n = min(self.eval_samples, self.n_samples)
        self._cancel.clear()
        self.eval_progress = 0.0
        self.eval_running = True
        apply = on_done or (lambda fn: fn())

        def work():
            try:
                result = self._evaluate(key, enc, T, n, batch_size, apply)
            except Exception as e:  # shown to the user
                msg = f"evaluation failed: {type(e).__name__}: {e}"
                apply(lambda: self.param.update(error=msg, eval_running=False))
                return
            apply(lambda: self.param.update(evaluation=result if result else self.evaluation,
                                            eval_running=False,
                                            eval_progress=1.0 if result else
                                            self.eval_progress))

        if blocking:
            work()
        else:
            self._eval_thread = threading.Thread(target=work, daemon=True, name="evaluation")
            self._eval_thread.start()

    def cancel_evaluation(self) -> None:
        self._cancel.set()

    def _evaluate(self, key, enc, T, n, batch_size, apply) -> Evaluation | None:
        model, dataset, code, pct, reset, thr, leak, clamp = key
        x, y = self._dataset(dataset, "test")
        x, y = x[:n], y[:n]
        if is_trained_snn(model):
            if snn_task(model) != "classification":
                raise ValueError(f"{model} reconstructs images, the evaluation scores "
                                 f"classifiers (its test MSE and SSIM are in zoo.snn_info)")
            ann, net = None, zoo.load_network(model)  # its own instance: runs in this thread
        else:
            ann = self.uploads[model] if model in self.uploads else zoo.load(model)
            xtr, _ = self._dataset(dataset, "train")
            net = convert(ann, xtr[:CALIBRATION_SIZE] if enc != "events" else
                          xtr[:CALIBRATION_SIZE].mean(1), percentile=percentile_value(pct),
                          code=code, reset=reset, threshold=thr, leak=leak, clamp_delay=clamp)
        recs = []
        for start in range(0, n, batch_size):
            if self._cancel.is_set():
                return None
            xb = x[start:start + batch_size]
            if enc == "events":
                xb = xb.transpose(0, 1)
                if T > len(xb):  # the recordings are over: no more events
                    xb = torch.cat([xb, xb.new_zeros((T - len(xb), *xb.shape[1:]))])
            rec = net.run(xb, T, encoding=enc, record=())
            recs.append(rec)
            done = min(start + batch_size, n) / n
            apply(lambda d=done: setattr(self, "eval_progress", d))
        rec = merge_recordings(recs)
        pred = rec.all_predictions().cpu()  # (T, n)
        static = x if enc != "events" else x.mean(1)
        with torch.no_grad():
            # a trained SNN has no ANN: the reference is the SNN's own answer at T
            ann_pred = ann(static).argmax(1) if ann is not None else pred[-1]
        C = net.n_classes
        result = Evaluation(
            n_samples=n, n_classes=C,
            ann_confusion=confusion_matrix(ann_pred, y, C),
            snn_confusion=confusion_matrix(pred[-1], y, C),
            ann_accuracy=float((ann_pred == y).float().mean()),
            accuracy_curve=(pred == y[None]).float().mean(1).numpy(),
            synaptic_ops=rec.synaptic_ops.cpu().numpy(),
            dt_ms=net.dt_ms, recording=rec, labels=y,
        )
        return result

    def tradeoff(self, platform: str | None = None):
        """Accuracy, synaptic ops, energy, delay and EDP per t of the last evaluation on
        ``platform`` (``spikescope.energy.tradeoff``); None without energy module or result."""
        energy = energy_module()
        ev = self.evaluation
        platform = platform or self.platform
        if energy is None or ev is None or ev.recording is None or platform is None:
            return None
        return energy.tradeoff(ev.recording, ev.labels, platform)


def _upload_input(model) -> tuple[tuple[int, ...], str]:
    """Input shape per sample and a shipped data set of that shape for an uploaded model."""
    shape = getattr(model, "input_shape", None)
    for name in UPLOAD_DATASETS:
        try:
            x, _ = shared_dataset(name, "test")
        except Exception:  # noqa: BLE001 - a data set that is not available here
            continue
        if shape is not None:
            if tuple(shape) == tuple(x.shape[1:]):
                return tuple(shape), name
            continue
        try:  # TorchScript does not say: try the data set's samples up to any unsupported op
            with torch.no_grad():
                h = x[:1]
                for m in (model if isinstance(model, torch.nn.Sequential) else [model]):
                    if isinstance(m, io.UnsupportedLayer):
                        break
                    h = m(h)
        except Exception:  # noqa: BLE001 - does not take this input
            continue
        return tuple(x.shape[1:]), name
    what = f"input shape {tuple(shape)}" if shape is not None else "an input"
    raise ValueError(f"no shipped data set fits the model's {what}; the dashboard has "
                     f"{', '.join(UPLOAD_DATASETS)}")


def merge_recordings(recs: list) -> Recording:
    """One Recording of a test set run in batches (spike trains and membranes dropped)."""
    sizes = torch.tensor([r.batch_size for r in recs], dtype=torch.float64)
    ops = torch.stack([r.layer_ops.double() for r in recs])  # (n, T, L+1) batch means
    first = recs[0]
    return Recording(
        layer_names=list(first.layer_names),
        spike_counts=[torch.cat([r.spike_counts[l] for r in recs])
                      for l in range(len(first.spike_counts))],
        output_counts=torch.cat([r.output_counts for r in recs], 1),
        output_potential=torch.cat([r.output_potential for r in recs], 1),
        layer_spikes=torch.cat([r.layer_spikes for r in recs], 1),
        layer_ops=((ops * sizes[:, None, None]).sum(0) / sizes.sum()).float(),
        dt_ms=first.dt_ms, readout=first.readout)
