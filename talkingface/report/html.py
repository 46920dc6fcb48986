"""Render ``ReportData`` as one HTML page: figures inline (data URIs), videos linked by relative path."""

from __future__ import annotations

import base64
import html
from collections import Counter
from datetime import datetime, timezone

from talkingface.report.data import ReportData
from talkingface.report.plots import betas_scatter, training_curves

# Section ids, in page order (the report test checks each is present).
SECTIONS = ("corpus", "betas", "training", "search", "clips", "timing")

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.banner { background: #fff3cd; border: 2px solid #e0a800; padding: 0.8em 1em; font-weight: 600; }
.clip { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
.muted { color: #777; } img { max-width: 100%; }
"""


def _esc(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape("" if value is None else str(value))


def _table(rows: list[dict], columns: list[str] | None = None) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_esc(r.get(c))}</td>'
            if isinstance(r.get(c), int | float)
            else f"<td>{_esc(r.get(c))}</td>"
            for c in columns
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{_esc(title)}</h2>{body}</section>'


def _corpus(data: ReportData) -> str:
    counts = Counter((c.get("dataset"), c.get("emotion")) for c in data.clips)
    rows = [{"dataset": d, "emotion": e, "clips": n} for (d, e), n in sorted(counts.items())]
    frames = sum(int(c.get("n_frames") or 0) for c in data.clips)
    reasons = Counter((e.get("stage"), e.get("reason")) for e in data.errors)
    grouped = [{"stage": s, "reason": r, "clips": n} for (s, r), n in reasons.most_common()]
    return (
        f"<p>{len(data.clips)} clips extracted ({frames} frames at 25 fps), {len(data.errors)} failed.</p>"
        + _table(rows)
        + "<h3>Errors by reason</h3>"
        + _table(grouped)
        + "<h3>Failed inputs</h3>"
        + _table(data.errors, ["source_uri", "stage", "reason"])
    )


def _betas(data: ReportData) -> str:
    groups = {k: v for k, v in data.exp_by_emotion.items() if len(v)}
    if sum(len(v) for v in groups.values()) < 2:
        return '<p class="muted">not enough coefficients to project</p>'
    return _img(betas_scatter(groups), "betas by emotion")


def _training(data: ReportData) -> str:
    if not data.curves:
        return '<p class="muted">not run</p>'
    parts = [_img(training_curves(data.curves), "training curves")]
    for name, table in data.metrics.items():
        rows = [{"": k, **v} if isinstance(v, dict) else {"": k, "value": v} for k, v in table.items()]
        parts.append(f"<h3>{_esc(name)}</h3>" + _table(rows))
    return "".join(parts)


def _search(data: ReportData) -> str:
    if data.search is None:
        return '<p class="muted">not run</p>'
    parts = []
    if data.search.baselines:
        base = [{"baseline": k, "val_loss": v} for k, v in data.search.baselines.items()]
        parts.append("<h3>Baselines</h3>" + _table(base))
    parts.append(f"<h3>Trials ({len(data.search.rows)})</h3>" + _table(data.search.rows))
    if data.search.plot_png:
        parts.append(_img(data.search.plot_png, "search plot"))
    return "".join(parts)


def _clips(data: ReportData) -> str:
    if not data.videos:
        return '<p class="muted">no clips rendered</p>'
    return "".join(
        f'<div class="clip"><video controls preload="metadata" width="256" src="{_esc(v.video)}"></video>'
        + _table([{"parameter": k, "value": val} for k, val in v.params.items()])
        + "</div>"
        for v in data.videos
    )


def _timing(data: ReportData) -> str:
    total = sum(data.stage_seconds.values())
    rows = [
        {"stage": k, "seconds": round(v, 1), "share": f"{100 * v / total:.0f}%" if total else "-"}
        for k, v in data.stage_seconds.items()
    ]
    return _table(rows) + f"<p>total {total:.1f} s</p>"


def render_report(data: ReportData) -> str:
    """The report page as an HTML string."""
    banner = (
        '<p class="banner" id="stand-in-banner">The official SadTalker weights were not available: every '
        "network ran on seeded stand-in weights, so the videos show the pipeline working, not a real face "
        "animation. Fetch the weights with <code>talkingface models fetch</code> and rerun.</p>"
        if data.stand_in_weights
        else ""
    )
    notes = "".join(f"<li>{_esc(n)}</li>" for n in data.notes)
    sections = [
        _section("corpus", "Corpus and errors", _corpus(data)),
        _section("betas", "Expression coefficients by emotion", _betas(data)),
        _section("training", "Training", _training(data)),
        _section("search", "Head search", _search(data)),
        _section("clips", "Rendered clips", _clips(data)),
        _section("timing", "Time per stage", _timing(data)),
    ]
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_esc(data.title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{_esc(data.title)}</h1>"
        f'<p class="muted">{created}</p>{banner}'
        + (f"<ul>{notes}</ul>" if notes else "")
        + "".join(sections)
        + "</body></html>"
    )
