"""What a Bokeh plot in the page shows, read through BokehJS (not from screenshots)."""

from __future__ import annotations

#: For every plot visible in the page: its title, ranges, log scales and each glyph renderer's
#: finite coordinates per axis (numeric ranges only; categorical axes are skipped).
VISIBLE_PLOTS = """() => {
  const plots = [];
  const views = [...Bokeh.index.query((v) => v.model && v.model.x_range !== undefined
                                      && v.model.renderers !== undefined)];
  for (const v of views) {
    const box = v.el.getBoundingClientRect();
    if (!v.el.isConnected || box.width <= 0 || box.height <= 0) continue;
    const m = v.model;
    const axis = (rng, scale) => ({
      numeric: rng.start !== undefined && rng.factors === undefined,
      start: rng.start, end: rng.end, log: scale.type === 'LogScale'
        || (scale.constructor && scale.constructor.__name__ === 'LogScale')});
    const plot = {title: m.title && m.title.text !== undefined ? m.title.text : String(m.title),
                  height: box.height, width: box.width,
                  x: axis(m.x_range, m.x_scale), y: axis(m.y_range, m.y_scale), series: []};
    for (const r of m.renderers) {
      if (!r.glyph || !r.data_source || r.visible === false) continue;
      const g = r.glyph, d = r.data_source.data;
      const get = (k) => (d instanceof Map ? d.get(k) : d[k]);
      const values = (names) => {
        const out = [];
        for (const n of names) {
          const spec = g[n];
          if (spec == null || typeof spec !== 'object') continue;
          const col = 'field' in spec ? get(spec.field) : ('value' in spec ? [spec.value] : null);
          if (col == null) continue;
          for (const val of col) if (typeof val === 'number' && Number.isFinite(val)) out.push(val);
        }
        return out;
      };
      plot.series.push({glyph: g.type || g.constructor.__name__,
                        x: values(['x', 'x0', 'x1', 'left', 'right']),
                        y: values(['y', 'y0', 'y1', 'top', 'bottom'])});
    }
    plots.push(plot);
  }
  return plots;
}"""


def range_problems(plot: dict, max_decades: float = 4.0) -> list[str]:
    """Why ``plot`` (one entry of ``VISIBLE_PLOTS``) does not show its data: data outside the
    visible range, a log axis starting at <= 0, a range orders of magnitude wider than the data,
    or no finite data at all."""
    import math

    problems, title = [], plot["title"]
    total = 0
    for ax in ("x", "y"):
        rng = plot[ax]
        vals = [v for s in plot["series"] for v in s[ax]]
        if not rng["numeric"]:
            total += len(vals) or 1
            continue
        if rng["log"]:
            vals = [v for v in vals if v > 0]
        total += len(vals)
        lo, hi = sorted((rng["start"], rng["end"]))
        if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
            problems.append(f"{title!r}: {ax} range {lo}..{hi} is not finite")
            continue
        if rng["log"] and lo <= 0:
            problems.append(f"{title!r}: log {ax} axis starts at {lo} <= 0")
            continue
        if not vals:
            continue
        dlo, dhi = min(vals), max(vals)
        tol = 1e-9 * max(abs(lo), abs(hi), 1e-300)
        if dlo < lo - tol or dhi > hi + tol:
            problems.append(f"{title!r}: {ax} data {dlo:.3g}..{dhi:.3g} outside the visible "
                            f"range {lo:.3g}..{hi:.3g}")
        elif rng["log"] and dhi > dlo and math.log10(hi / lo) > math.log10(dhi / dlo) + max_decades:
            problems.append(f"{title!r}: log {ax} range {lo:.3g}..{hi:.3g} is far wider than "
                            f"the data {dlo:.3g}..{dhi:.3g}")
        elif not rng["log"] and (hi - lo) > 100 * max(dhi - dlo, abs(dlo), abs(dhi)) > 0:
            problems.append(f"{title!r}: {ax} range {lo:.3g}..{hi:.3g} is far wider than the "
                            f"data {dlo:.3g}..{dhi:.3g}")
    if total == 0:
        problems.append(f"{title!r}: no finite data on the plot")
    return problems


#: Page coordinates (CSS px) of the data point (x, y) in the visible plot titled ``title``.
DATA_TO_PAGE = """([title, x, y]) => {
  for (const v of Bokeh.index.query((v) => v.model && v.model.title
                                    && v.model.title.text === title)) {
    const box = v.el.getBoundingClientRect();
    if (box.width <= 0 || v.frame === undefined) continue;
    const canvas = v.canvas_view.el.getBoundingClientRect();
    return [canvas.left + v.frame.x_scale.compute(x), canvas.top + v.frame.y_scale.compute(y)];
  }
  return null;
}"""

#: Scroll the visible plot titled ``title`` to the middle of the viewport; True if found.
SCROLL_TO_PLOT = """(title) => {
  for (const v of Bokeh.index.query((v) => v.model && v.model.title
                                    && v.model.title.text === title)) {
    if (v.el.getBoundingClientRect().width <= 0) continue;
    v.el.scrollIntoView({block: 'center'});
    return true;
  }
  return false;
}"""
