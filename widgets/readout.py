"""What the views read from a session's recording (no Panel imports): spike counts, rates and
per-layer activity up to a step, the percentile hint, and the input and output as images."""

from __future__ import annotations

import weakref

import numpy as np
import torch

from spikescope.zoo import image_errors, snn_reconstruction

from .catalog import PERCENTILES, snn_info


def _pct(share: float) -> str:
    """A share as a percentage that does not round a small non-zero share to "0%"."""
    return f"{share:.1%}" if 0 < share < 0.01 else f"{share:.0%}"


class Readout:
    """Derived data of the current recording; mixed into :class:`widgets.session.Session`."""

    @property
    def layer_names(self) -> list[str]:
        """Names of the spiking layers of the current recording."""
        return list(self.recording.layer_names) if self.recording is not None else []

    @property
    def dt_ms(self) -> float:
        """Duration of one step of the current recording (ms)."""
        return float(self.recording.dt_ms) if self.recording is not None else 1.0

    def counts_at(self, t: int) -> list[np.ndarray]:
        """Spikes per neuron of each layer in the first ``t`` steps (read-only arrays; the
        last cursor's are kept, since every view of a frame asks for the same ``t``)."""
        rec = self.recording
        key = (id(rec), int(t))
        cached = getattr(self, "_counts_memo", None)
        if cached is not None and cached[0] == key and cached[1]() is rec:
            return cached[2]
        if t <= 0:
            out = [np.zeros(c.shape[1], dtype=np.int64) for c in rec.spike_counts]
        else:
            out = [tr[:t, 0].sum(0).cpu().numpy().astype(np.int64) for tr in rec.spike_trains]
        for c in out:
            c.flags.writeable = False
        self._counts_memo = (key, weakref.ref(rec), out)
        return out

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
        correlation of ANN activation and SNN rate (spikes per step), lambda (the last
        cursor's are kept: the table, bars and hint of a frame read the same)."""
        key = (id(self.recording), id(self.ann_rates), int(t))
        cached = getattr(self, "_activity_memo", None)
        if cached is not None and cached[0] == key and cached[1]() is self.recording:
            return [dict(a) for a in cached[2]]
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
        self._activity_memo = (key, weakref.ref(self.recording), out)
        return [dict(a) for a in out]

    def suggestion(self, t: int | None = None) -> str:
        """A one-line hint on the normalization percentile from saturation and silence."""
        t = self.timesteps if t is None else t
        if self.recording is None or t < 5:
            return "Run a few steps to get a percentile suggestion."
        act = self.activity(t)
        hidden = act[:-1] or act
        worst = max(hidden, key=lambda a: a["saturated"])
        idx = PERCENTILES.index(self.percentile)
        top = PERCENTILES.index("max")
        if worst["saturated"] > 0.05:
            if idx < top:  # a higher percentile: larger lambda, lower rates
                return (f"{worst['layer']}: {_pct(worst['saturated'])} saturated (firing every "
                        f"step): raise the percentile (try {PERCENTILES[idx + 1]}) so lambda "
                        f"grows and rates drop below 1.")
            fix = "normalize (try 99.9)" if idx > top else "raise the threshold"
            return (f"{worst['layer']}: {_pct(worst['saturated'])} saturated (firing every "
                    f"step) at percentile {self.percentile}: {fix}.")
        quiet = max(hidden, key=lambda a: a["silent"])
        peak = max(a["rate_hz"] for a in hidden)
        if quiet["silent"] > 0.9 or peak < 0.02 * 1000.0 / self.dt_ms:
            if 0 < idx <= top:  # a lower percentile: smaller lambda, higher rates
                hint = f"lower the percentile (try {PERCENTILES[idx - 1]}) or raise T"
            elif idx > top:  # no normalization at all
                hint = "normalize (try 99.9) or raise T"
            else:  # already the lowest percentile offered
                hint = "lower the threshold or raise T"
            return f"{quiet['layer']}: {_pct(quiet['silent'])} silent: rates are low, {hint}."
        return (f"Percentile {self.percentile} looks fine: at most "
                f"{_pct(worst['saturated'])} saturated ({worst['layer']}).")

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

    def reconstruction_errors(self, t: int) -> dict[str, float] | None:
        """MSE and SSIM of the SNN's image so far and of the ANN's, against the input (None
        for models that classify)."""
        if self.task != "reconstruction" or self.trained:
            return None
        x = self.x[:1].float().cpu()
        snn = snn_reconstruction(self.net, self.recording, max(t, 1))[:1].cpu()
        ann = self.ann_output.float().cpu()  # the ANN's output for this sample, per run
        return {"snn_" + k: v for k, v in image_errors(snn, x).items()} | \
            {"ann_" + k: v for k, v in image_errors(ann, x).items()}

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
        """For models whose output is an image: the image formed so far (a converted model's
        output in the ANN's units, :func:`spikescope.zoo.snn_reconstruction`; a trained
        SNN's spike counts per unit intensity)."""
        shape = getattr(self.net.stages[-1], "out_shape", ())
        if len(shape) >= 2:
            hw = shape[-2:]
        else:
            hw = self.input_image().shape
            if int(np.prod(hw)) != self.net.n_classes:
                return None
        t = max(t, 1)
        if not self.trained and self.task == "reconstruction":  # a converted image model
            img = snn_reconstruction(self.net, self.recording, t)[0].cpu().numpy()
            return img.mean(0) if img.ndim == 3 else img
        counts = self.recording.output_counts[t - 1, 0].float().cpu().numpy()
        if self.trained:  # trained to emit `counts_per_unit` spikes for intensity 1
            unit = float(snn_info(self.model)["output"].get("counts_per_unit", 1.0))
            return np.clip(counts.reshape(shape).mean(0) / unit, 0.0, 1.0)
        if len(shape) >= 3:
            return counts.reshape(shape).mean(0) / t
        return counts.reshape(hw) / t
