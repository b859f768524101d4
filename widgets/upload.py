"""Upload a model file (load it safely, report its layers, add it to the session's models) or a
downloaded run file (restore its view)."""

from __future__ import annotations

import panel as pn

from spikescope.io import ModelReport, UnsafeModelError

from .base import View, escape_text
from .transfer import MAX_UPLOAD_BYTES, RunRestore, is_run_file

ACCEPT = ".pt,.pth,.ts,.onnx,.safetensors,.npz"


def report_markdown(report: ModelReport) -> str:
    """The layer report of ``spikescope.io.inspect_model`` as a Markdown table."""
    rows = ["| # | layer | params | output | supported |", "|---|---|--:|---|---|"]
    for x in report.layers:
        shape = "x".join(map(str, x.out_shape)) if x.out_shape else "?"
        rows.append(f"| {escape_text(x.name)} | {escape_text(x.kind)} | {x.n_params:,} | "
                    f"{escape_text(shape)} | "
                    f"{'yes' if x.supported else '**no**'} |")
    shape = escape_text("x".join(map(str, report.input_shape)))
    head = f"input {shape}, {len(report.layers)} layers, {report.n_params:,} parameters"
    if report.unsupported:
        head += "; unsupported: " + escape_text(", ".join(dict.fromkeys(report.unsupported)))
    return head + "\n\n" + "\n".join(rows)


class UploadView(View):
    """A file input for the user's own ANN (TorchScript, ONNX, safetensors, state dict) or a
    run file from "Download run".

    A model goes to :meth:`Session.load_upload` (``spikescope.io.load_model``: size limit,
    no code execution), a run file to :meth:`Session.load_run_file` (arrays only, its view
    restored); the layer report or the restored run and any error show below the input, and
    the session keeps its current state after a bad file.
    """

    help = (f"ONNX, safetensors or torch.save(state_dict) of a zoo architecture, up to "
            f"{MAX_UPLOAD_BYTES // 1_000_000} MB; TorchScript (code) only when the server is "
            f"started with --trust-uploaded-code. Pickled objects that would run code are "
            f"refused unopened. The model joins the model list of this session only. A run file "
            f"saved with Export (.npz) loads back here and restores that run's view.")

    def __init__(self, session=None, **params):
        super().__init__(session, **params)
        self.file = pn.widgets.FileInput(accept=ACCEPT, multiple=False,
                                         sizing_mode="stretch_width")
        self.alert = pn.pane.Alert("", alert_type="info", visible=False,
                                   sizing_mode="stretch_width", margin=(5, 5))
        self.report = pn.pane.Markdown("", visible=False, sizing_mode="stretch_width",
                                       styles={"font-size": "11px"})
        self.file.param.watch(self._on_file, "value")

    def _on_file(self, event) -> None:
        if not event.new:
            return
        self.load(event.new, self.file.filename or "model")

    def load(self, data: bytes, filename: str) -> ModelReport | RunRestore | None:
        """Load ``data`` (a model or a run file) into the session and show the outcome (never
        raises)."""
        name = escape_text(filename)
        if is_run_file(data):
            return self._load_run(data, filename)
        try:
            report = self.session.load_upload(data, filename)
        except UnsafeModelError as e:
            self._show("danger", f"**{name} refused** (not executed): {escape_text(str(e))}")
            return None
        except Exception as e:  # noqa: BLE001 - any bad file is a message, not a crash
            self._show("danger", f"**Could not load {name}**: {type(e).__name__}: "
                                 f"{escape_text(str(e))}")
            return None
        self.report.object = report_markdown(report)
        self.report.visible = True
        if report.convertible:
            model = escape_text(self.session.model)
            self._show("success", f"**{name}** loaded as model *{model}*.", keep_report=True)
        else:
            self._show("warning", f"**{name} cannot be converted**: "
                                  f"{escape_text(report.error or '')}", keep_report=True)
        return report

    def _load_run(self, data: bytes, filename: str) -> RunRestore | None:
        name = escape_text(filename)
        try:
            res = self.session.load_run_file(data, filename)
        except Exception as e:  # noqa: BLE001 - any bad run file is a message, not a crash
            self._show("danger", f"**Could not restore the run {name}**: "
                                 f"{escape_text(e)}")
            return None
        p = res.params
        what = escape_text(f"model {p['model']}, {p['dataset']} sample {p['sample']}, code "
                           f"{p['code']}, {p['encoding']} input, T = {p['timesteps']}, "
                           f"t = {p['t']}")
        if res.matches:
            self._show("success", f"**{name}**: run restored ({what}); the simulation again "
                                  f"equals the stored recording.")
        else:
            self._show("warning", f"**{name}**: run restored ({what}), but the simulation "
                                  f"here differs from the stored recording: "
                                  f"{escape_text('; '.join(res.differences))}.")
        return res

    def _show(self, kind: str, text: str, keep_report: bool = False) -> None:
        self.alert.param.update(object=text, alert_type=kind, visible=True)
        if not keep_report:
            self.report.visible = False

    def __panel__(self):
        return pn.Column(self.file, pn.pane.Markdown(self.help, styles={"font-size": "11px",
                         "color": "#555"}, margin=(0, 10)), self.alert, self.report,
                         sizing_mode="stretch_width")
