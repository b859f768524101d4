"""Pinned runs of a session for comparison (no Panel imports): what a run's comparison draws,
kept small, a bounded run history, the parameters two runs differ in, and the URL form of a
pinned configuration and of the traced neurons.

A :class:`RunSnapshot` keeps, of one configuration (the session's ``CHOICES``): spikes per step
of every layer and the class evidence over time for the sample, and, when the configuration was
evaluated, its accuracy and synaptic operations per step and its EDP per step on every platform.
No spike trains, no network: a few arrays of T rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import param

from .session import CHOICES, Session

#: Pinned runs kept per session (the oldest drops out).
HISTORY_SIZE = 4
#: Classes whose evidence a snapshot keeps (those with the most evidence at T).
EVIDENCE_CLASSES = 10
#: Longest URL value accepted for a pinned configuration and for the traced neurons.
MAX_PIN_CHARS, MAX_TRACES_CHARS = 400, 200
#: Name of the session's current run in a comparison.
LIVE = "live"
#: Short legend forms of parameter values: "rate", "p99.9", "reset zero".
_SHORT = {"code": "{}", "percentile": "p{}", "reset": "reset {}", "timesteps": "T={}"}
_TRACE = re.compile(r"^(\d{1,3})-(\d{1,9})$")
_PIN_ITEM = re.compile(r"^([a-z_]{1,20}):([\w.\- ]{1,60})$")


@dataclass(frozen=True)
class EvaluationCurves:
    """The test-set curves of one configuration: accuracy and synaptic ops after each step,
    the ANN's accuracy, EDP (J s) per step on each platform."""

    n_samples: int
    ann_accuracy: float
    accuracy: np.ndarray  # (T,) SNN accuracy after each step
    synaptic_ops: np.ndarray  # (T,) cumulative synaptic operations per sample
    edp_js: dict = field(default_factory=dict)  # platform -> (T,) EDP after each step


@dataclass(frozen=True)
class RunSnapshot:
    """What a comparison draws of one run (see the module doc)."""

    name: str
    params: dict  # CHOICES -> value
    dt_ms: float
    layer_names: tuple
    layer_spikes: np.ndarray  # (T, L) spikes per step of each layer (the sample)
    evidence: np.ndarray  # (T + 1, k) evidence of `classes` after each step (row 0: before)
    classes: tuple  # the k classes kept: those with the most evidence at T
    membrane_readout: bool  # evidence is the output membrane (else cumulative spikes)
    answer: str  # "label 7 · SNN says 7 at T"
    evaluation: EvaluationCurves | None = None

    @property
    def timesteps(self) -> int:
        return len(self.layer_spikes)


def membrane_readout(recording) -> bool:
    """True when ``recording`` answers by its output membrane potential (e.g. the pattern
    code: its output layer does not spike), not by output spike counts."""
    return getattr(recording, "readout", "spikes") == "membrane" and \
        getattr(recording, "output_potential", None) is not None


def class_evidence(recording) -> np.ndarray:
    """(T + 1, C) class evidence of the first sample after each step: cumulative output spikes,
    or the output membrane potential for membrane-readout codes (row 0: before the first
    step)."""
    out = recording.output_potential if membrane_readout(recording) else \
        recording.output_counts
    ev = np.zeros((out.shape[0] + 1, out.shape[2]))
    ev[1:] = out[:, 0].float().cpu().numpy()
    return ev


def evaluation_key(session: Session) -> tuple:
    """What an evaluation of ``session`` depends on (its sample does not count)."""
    return (*session.network_key(), session.encoding, int(session.timesteps))


def curves_of(session: Session) -> EvaluationCurves | None:
    """The session's last evaluation as curves (EDP on every platform), or None."""
    ev = session.evaluation
    if ev is None:
        return None
    edp = {}
    for name in session.param.platform.objects:
        try:
            edp[name] = session.tradeoff(name)["edp_js"].to_numpy(dtype=float)
        except Exception:  # noqa: BLE001, S112 - a platform without the figures for it
            continue
    return EvaluationCurves(n_samples=int(ev.n_samples), ann_accuracy=float(ev.ann_accuracy),
                            accuracy=np.asarray(ev.accuracy_curve, dtype=float),
                            synaptic_ops=np.asarray(ev.synaptic_ops, dtype=float), edp_js=edp)


def snapshot(session: Session, name: str, evaluation: EvaluationCurves | None = None
             ) -> RunSnapshot:
    """The session's current run as a :class:`RunSnapshot` named ``name``."""
    rec = session.recording
    T = int(session.timesteps)
    pred = int(rec.predictions(T - 1)[0])
    snn = str(pred) if pred >= 0 else "nothing"
    evidence = class_evidence(rec)
    classes = sorted(np.argsort(-evidence[-1], kind="stable")[:EVIDENCE_CLASSES].tolist())
    return RunSnapshot(
        name=name, params={k: getattr(session, k) for k in CHOICES}, dt_ms=session.dt_ms,
        layer_names=tuple(session.layer_names),
        layer_spikes=rec.layer_spikes[:, 0].cpu().numpy().astype(np.int64),
        evidence=evidence[:, classes], classes=tuple(classes),
        membrane_readout=membrane_readout(rec),
        answer=f"label {session.label} · SNN says {snn} at T", evaluation=evaluation)


def simulate(params: dict, name: str, *, eval_samples: int | None = None) -> RunSnapshot:
    """Run the configuration ``params`` (CHOICES) in a scratch session and snapshot it; with
    ``eval_samples``, evaluate it on that many test samples first (blocking: call from a
    worker thread). Raises ValueError with the session's words if the configuration does
    not run."""
    try:
        s = Session(**params)
    except (RuntimeError, ValueError) as e:  # the first simulation failed: it says why
        raise ValueError(str(e).removeprefix("the first simulation failed: ")) from None
    if s.error:
        raise ValueError(s.error)
    curves = None
    if eval_samples is not None:
        s.eval_samples = max(int(eval_samples), s.param.eval_samples.bounds[0])
        s.evaluate(blocking=True)
        if s.error:
            raise ValueError(s.error)
        curves = curves_of(s)
    return snapshot(s, name, curves)


class RunHistory(param.Parameterized):
    """The pinned runs of one session and the two runs compared (``a`` and ``b``: a pinned
    run's name or ``LIVE``). Knows which configuration the session's evaluation belongs to."""

    runs = param.List(default=[], item_type=RunSnapshot,
                      doc=f"Pinned runs, oldest first (at most {HISTORY_SIZE}).")
    a = param.String(default="", doc="Name of the first run compared ('' = none pinned).")
    b = param.String(default=LIVE, doc="Name of the second run compared.")

    def __init__(self, session: Session, **params):
        super().__init__(**params)
        self.session = session
        self._count = 0
        self._running_key: tuple | None = None
        self._evaluated: tuple | None = None  # (id of the evaluation, its configuration)
        self._live: tuple | None = None  # (cache key, snapshot of the live run)
        session.param.watch(self._eval_started, "eval_running")
        session.param.watch(self._eval_done, "evaluation")

    # ------------------------------------------------------------------ evaluations
    def _eval_started(self, event) -> None:
        if event.new:
            self._running_key = evaluation_key(self.session)

    def _eval_done(self, event) -> None:
        if event.new is not None:
            self._evaluated = (id(event.new), self._running_key)

    def live_evaluation(self) -> EvaluationCurves | None:
        """The session's evaluation if it is of the current configuration, else None."""
        s = self.session
        if s.evaluation is None or self._evaluated is None:
            return None
        ev_id, key = self._evaluated
        return curves_of(s) if ev_id == id(s.evaluation) and key == evaluation_key(s) \
            else None

    # ------------------------------------------------------------------ runs
    def live(self) -> RunSnapshot:
        """The session's current run (cached per recording and evaluation)."""
        s = self.session
        key = (s.version, id(s.evaluation), self._evaluated)
        if self._live is None or self._live[0] != key:
            self._live = (key, snapshot(s, LIVE, self.live_evaluation()))
        return self._live[1]

    def next_name(self) -> str:
        self._count += 1
        return f"pin {self._count}"

    def pin(self) -> RunSnapshot:
        """Pin the session's current run (with its evaluation, if it is of this
        configuration); it becomes run ``a``, compared with the live run."""
        run = snapshot(self.session, self.next_name(), self.live_evaluation())
        self.add(run)
        return run

    def add(self, run: RunSnapshot) -> None:
        """Keep ``run`` (the oldest drops out beyond ``HISTORY_SIZE``) and compare it with
        the live run."""
        runs = [r for r in self.runs if r.name != run.name] + [run]
        self.runs = runs[-HISTORY_SIZE:]
        self.param.update(a=run.name, b=LIVE)

    def replace(self, run: RunSnapshot) -> None:
        """Put ``run`` in place of the pinned run of the same name (e.g. once evaluated)."""
        self.runs = [run if r.name == run.name else r for r in self.runs]

    def clear(self) -> None:
        self.runs = []
        self.param.update(a="", b=LIVE)

    def names(self) -> list[str]:
        return [r.name for r in self.runs] + [LIVE]

    def get(self, name: str) -> RunSnapshot | None:
        if name == LIVE:
            return self.live()
        return next((r for r in self.runs if r.name == name), None)

    def compared(self) -> tuple[RunSnapshot, RunSnapshot] | None:
        """The two runs compared, or None before a pin."""
        a, b = self.get(self.a), self.get(self.b)
        return (a, b) if a is not None and b is not None else None


# ---------------------------------------------------------------------- labels and diffs
def differing(a: dict, b: dict) -> list[str]:
    """The CHOICES in which two configurations differ, in CHOICES order."""
    return [k for k in CHOICES if a.get(k) != b.get(k)]


def shown_value(value) -> str:
    """A parameter value as text: floats without trailing zeros (99.0 -> "99")."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def short(key: str, value) -> str:
    """A parameter value as a legend shows it: "rate", "p99.9", "reset zero", "sample 3"."""
    return _SHORT.get(key, key + " {}").format(shown_value(value))


def run_labels(a: RunSnapshot, b: RunSnapshot) -> tuple[str, str]:
    """Legend labels of two runs: the parameters they differ in, and the run's name
    ("rate (pin 1)" vs "ttfs (live)"); only the names when they do not differ."""
    keys = differing(a.params, b.params)

    def label(r: RunSnapshot) -> str:
        what = ", ".join(short(k, r.params[k]) for k in keys)
        return f"{what} ({r.name})" if what else r.name

    return label(a), label(b)


def diff_rows(a: RunSnapshot, b: RunSnapshot) -> list[tuple[str, str, str]]:
    """(parameter, value in a, value in b) of every parameter the two runs differ in."""
    return [(k, shown_value(a.params[k]), shown_value(b.params[k]))
            for k in differing(a.params, b.params)]


# ---------------------------------------------------------------------- URL forms
def _shown(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[:n] + "..."


def encode_traces(traces) -> str:
    """Traced neurons as a URL value: [(2, 15), (3, 7)] -> "2-15,3-7", [] -> "none".

    Not "2.15": Panel reads a number-like query value as a number and writes it back
    rewritten ("2.10" -> "2.1") whenever it updates the URL.
    """
    return ",".join(f"{int(l)}-{int(i)}" for l, i in traces) or "none"


def decode_traces(text: str, n_neurons, max_traces: int) -> list[tuple[int, int]]:
    """The traced neurons of a URL value ("2-15,3-7", "none"), checked against the network's
    layer sizes ``n_neurons``; ValueError in words otherwise."""
    text = str(text).strip()
    if text == "none":
        return []
    if not text or len(text) > MAX_TRACES_CHARS:
        raise ValueError(f"traces: {'empty' if not text else f'too long ({len(text)} characters)'}")
    items = text.split(",")
    if len(items) > max_traces:
        raise ValueError(f"traces: {len(items)} neurons, at most {max_traces} are traced")
    out = []
    for item in items:
        m = _TRACE.match(item.strip())
        if m is None:
            raise ValueError(f"traces: {_shown(item)!r} is not layer-neuron (e.g. 2-15)")
        l, i = int(m.group(1)), int(m.group(2))
        if l >= len(n_neurons):
            raise ValueError(f"traces: no layer {l} (the network has layers "
                             f"0..{len(n_neurons) - 1})")
        if i >= n_neurons[l]:
            raise ValueError(f"traces: no neuron {i} in layer {l} (it has {n_neurons[l]})")
        if (l, i) not in out:
            out.append((l, i))
    return out


def encode_pin(pinned: dict, live: dict) -> str:
    """A pinned configuration as a URL value, relative to the live one: the parameters it
    differs in ("code:rate,percentile:99.9"), "same" when none."""
    keys = differing(pinned, live)
    return ",".join(f"{k}:{shown_value(pinned[k])}" for k in keys) if keys else "same"


def decode_pin(text: str, session: Session) -> dict:
    """The pinned configuration of a URL value (see :func:`encode_pin`): the session's
    current CHOICES with the given ones replaced. Every value is checked against the
    session's choices and bounds; ValueError in words otherwise."""
    text = str(text).strip()
    params = {k: getattr(session, k) for k in CHOICES}
    if text == "same":
        return params
    if not text or len(text) > MAX_PIN_CHARS:
        raise ValueError(f"pin: {'empty' if not text else f'too long ({len(text)} characters)'}")
    seen = set()
    for item in text.split(","):
        m = _PIN_ITEM.match(item.strip())
        if m is None:
            raise ValueError(f"pin: {_shown(item)!r} is not parameter:value (e.g. code:rate)")
        key, raw = m.groups()
        if key not in CHOICES:
            raise ValueError(f"pin: {key!r} is not a run parameter (one of {', '.join(CHOICES)})")
        if key in seen:
            raise ValueError(f"pin: {key} given twice")
        seen.add(key)
        params[key] = _value(session, key, raw)
    return params


def _value(session: Session, key: str, raw: str):
    """``raw`` as a value of the session parameter ``key`` (a choice or a number within its
    bounds)."""
    p = session.param[key]
    if isinstance(p, param.Selector):
        for o in p.objects:
            if raw in (str(o), shown_value(o)):
                return o
        raise ValueError(f"pin: {key} {_shown(raw)!r} is not offered (choose one of "
                         f"{', '.join(map(str, p.objects))})")
    try:
        v = int(raw) if isinstance(p, param.Integer) else float(raw)
    except ValueError:
        raise ValueError(f"pin: {key} {_shown(raw)!r} is not a number") from None
    lo, hi = p.bounds or (None, None)
    if (lo is not None and v < lo) or (hi is not None and v > hi) or not np.isfinite(v):
        raise ValueError(f"pin: {key} {v} is outside {lo}..{hi}")
    return v
