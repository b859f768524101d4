"""Models in, runs out and back (no Panel imports): a user's model file joins a session's model
choices, the current run leaves as a ``spikescope.io.save_run`` file, and such a file loaded
back restores the run's view (its parameters and time cursor, re-simulated and checked against
the stored recording)."""

from __future__ import annotations

import io as _io
import math
import os
import tempfile
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import param
import torch

from spikescope import io
from spikescope.codes.encoders import ENCODERS
from spikescope.io import RunFileError
from spikescope.sim.recording import Recording

from .catalog import shared_dataset

#: Largest model file the upload accepts (bytes).
MAX_UPLOAD_BYTES = 20_000_000
#: Whether uploaded TorchScript (which is code) is loaded: off unless the server is started
#: with ``panel serve app/ --args --trust-uploaded-code`` (or SPIKESCOPE_TRUST_UPLOADED_CODE=1).
TRUST_UPLOADED_CODE = os.environ.get("SPIKESCOPE_TRUST_UPLOADED_CODE", "") == "1"
UPLOAD_PREFIX = "upload: "
#: Data sets an uploaded model may take (the one matching its input shape is used).
UPLOAD_DATASETS = ("digits", "digits28", "mnist1d")
#: Session parameters that reproduce a run (with the cursor ``t``).
RUN_PARAMS = ("model", "dataset", "sample", "code", "encoding", "percentile", "timesteps",
              "threshold", "leak", "neuron", "reset", "clamp_delay", "t")


#: The member every ``spikescope.io.save_run`` file holds (how an upload is told to be a run).
RUN_MARKER = "meta.json.npy"


@dataclass
class RunRestore:
    """What loading a run file back did: the parameters now in the session and how the
    re-simulation differs from the stored recording (empty: equal)."""

    params: dict
    differences: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        """True when the re-simulated run equals the stored recording."""
        return not self.differences


def is_run_file(data: bytes) -> bool:
    """True for a zip archive holding a run's ``meta.json`` (a ``save_run`` .npz file)."""
    if bytes(data[:4]) != b"PK\x03\x04":
        return False
    try:
        return RUN_MARKER in zipfile.ZipFile(_io.BytesIO(bytes(data))).namelist()
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        return False


class Transfer:
    """Upload and export; mixed into :class:`widgets.session.Session`."""

    def load_upload(self, data: bytes, filename: str = "model") -> io.ModelReport:
        """Load a user's model file (``spikescope.io.load_model``, size limit
        ``MAX_UPLOAD_BYTES``, never unpickles code; TorchScript only with
        ``TRUST_UPLOADED_CODE``) and report its layers.

        A convertible model joins the model choices of this session only and is selected;
        the report of one that is not says why. Errors of a bad file are raised
        (``ModelLoadError``, ``UnsafeModelError``, ...) and change nothing.
        """
        model = io.load_model(bytes(data), max_bytes=MAX_UPLOAD_BYTES, strict=False,
                              allow_torchscript=TRUST_UPLOADED_CODE)
        shape, ds = upload_input(model)
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

    def load_run_file(self, data: bytes, filename: str = "run.npz") -> RunRestore:
        """Restore the view of a run file saved by :meth:`export_run`.

        Read with ``spikescope.io.load_run`` (size limit ``MAX_UPLOAD_BYTES``, arrays only, no
        pickle); the run's parameters are checked against this session's choices (a run of an
        uploaded model needs that model uploaded first), set, simulated again and the cursor
        put at the run's ``t``. Raises ``RunFileError`` (and changes nothing) for a bad file
        or parameters that do not fit; the result lists where the re-simulation differs from
        the stored recording.
        """
        data = bytes(data)
        name = Path(filename).name or "run.npz"
        if len(data) > MAX_UPLOAD_BYTES:
            raise RunFileError(f"{name}: {len(data)} bytes exceeds the size limit of "
                               f"{MAX_UPLOAD_BYTES} bytes")
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "run.npz"
            path.write_bytes(data)
            try:
                run = io.load_run(path, max_bytes=MAX_UPLOAD_BYTES)
            except RunFileError as e:
                raise RunFileError(str(e).replace(str(path), name)) from e
        choices = run_choices(self, run.params)
        self.running = False
        self.error = ""
        if choices["model"] != self.model:
            self.model = choices["model"]  # picks the model's data set and runs
        rest = {k: v for k, v in choices.items() if k not in ("model", "t")
                and getattr(self, k) != v}
        if rest and not self.error:
            # checked above against the run's data set; a new run narrows both again
            narrowed = (self.param.sample.bounds, list(self.param.encoding.objects))
            version = self.version
            self.param.sample.bounds = (0, None)
            self.param.encoding.objects = list(ENCODERS)
            self.param.update(**rest)
            if self.version == version:  # no new run: put the narrowed choices back
                self.param.sample.bounds, self.param.encoding.objects = narrowed
        if self.error:
            raise RunFileError(f"{name}: the run's parameters do not run here: {self.error}")
        differences = [f"{k} is {getattr(self, k)!r} here, {v!r} in the run"
                       for k, v in choices.items() if k != "t" and getattr(self, k) != v]
        self.t = min(choices["t"], self.timesteps)
        differences += recording_differences(run.recording, self.recording)
        return RunRestore(params=choices, differences=differences)

    def run_params(self) -> dict:
        """The parameters that reproduce the current run (JSON-ready; :func:`run_choices`
        checks them when the file comes back)."""
        out = {k: getattr(self, k) for k in RUN_PARAMS}
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


def upload_input(model: torch.nn.Module) -> tuple[tuple[int, ...], str]:
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


def run_choices(session: param.Parameterized, params: dict) -> dict:
    """The run's values of :data:`RUN_PARAMS`, each checked against what ``session`` offers
    (models of this session, registered codes and encodings, bounds; ``sample`` within the
    run's data set, ``t`` within its T); ``RunFileError`` names the first that does not fit."""
    missing = [k for k in RUN_PARAMS if k not in params]
    if missing:
        raise RunFileError(f"the run file lacks the parameters {', '.join(missing)}")
    model = params["model"]
    if model not in session.param.model.objects:
        if isinstance(model, str) and model.startswith(UPLOAD_PREFIX):
            raise RunFileError(f"this run is of the uploaded model {model[:80]!r}, which is "
                               f"not in this session: upload that model file first, then the "
                               f"run file")
        raise RunFileError(f"the run's model {model!r:.80} is not available here; models: "
                           f"{', '.join(map(str, session.param.model.objects))}")
    out = {}
    for k in RUN_PARAMS:
        v, p = params[k], session.param[k]
        bad = f"the run's {k} {v!r:.60}"
        if isinstance(v, bool) or v is None:
            raise RunFileError(f"{bad} is not a valid value")
        if isinstance(p, param.Selector):
            objects = list(ENCODERS) if k == "encoding" else p.objects
            if v not in objects:
                raise RunFileError(f"{bad} is not one of {', '.join(map(str, objects))}")
        elif isinstance(p, param.Number):
            if not isinstance(v, (int, float)) or not math.isfinite(v) or (
                    isinstance(p, param.Integer) and not isinstance(v, int)):
                raise RunFileError(f"{bad} must be a finite "
                                   f"{'whole ' if isinstance(p, param.Integer) else ''}number")
            lo, hi = p.bounds
            if k == "sample":
                hi = len(shared_dataset(out["dataset"], "test")[1]) - 1
            elif k == "t":
                hi = out["timesteps"]
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise RunFileError(f"{bad} is outside {lo}..{hi}")
        out[k] = v
    return out


def recording_differences(stored: Recording, live: Recording) -> list[str]:
    """Where two recordings of one sample differ (output counts, spike counts and trains per
    layer), in words; empty when they are equal."""
    if list(stored.layer_names) != list(live.layer_names):
        return [f"the layers differ (stored {len(stored.layer_names)}: "
                f"{', '.join(stored.layer_names)[:120]}; here {len(live.layer_names)})"]
    pairs = [("output counts", stored.output_counts, live.output_counts)]
    for l, name in enumerate(live.layer_names):
        pairs.append((f"spike counts of {name}", stored.spike_counts[l], live.spike_counts[l]))
        if stored.spike_trains is not None and live.spike_trains is not None:
            pairs.append((f"spike trains of {name}", stored.spike_trains[l],
                          live.spike_trains[l]))
    out = []
    for what, a, b in pairs:
        if tuple(a.shape) != tuple(b.shape):
            out.append(f"{what}: shape {tuple(a.shape)} stored, {tuple(b.shape)} here")
        elif not torch.equal(a.double().cpu(), b.double().cpu()):
            d = (a.double().cpu() - b.double().cpu()).abs().nan_to_num(math.inf).max()
            out.append(f"{what}: differ by up to {float(d):g}")
    return out
