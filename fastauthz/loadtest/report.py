"""The run as one HTML page: offered against achieved connects per second, latency percentiles and
outcomes over time, the authorizer's cold starts where its logs were read, and the figures as tables.
Plain SVG drawn here (no charting package to install on a load-generating host, no script to run)."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from .results import CLASSES

WIDTH, HEIGHT, PAD = 900, 220, 48
COLOURS = {
    "offered": "#888888",
    "achieved": "#1f77b4",
    "p50": "#2ca02c",
    "p99": "#d62728",
    "allowed as expected": "#1f77b4",
    "refused as expected": "#9ecae1",
    "wrong decision": "#000000",
    "unexpected refusal status": "#9467bd",
    "throttled (429)": "#ff7f0e",
    "5xx": "#d62728",
    "timeout": "#8c564b",
    "connection error": "#e377c2",
    "other status": "#7f7f7f",
    "token supply": "#bcbd22",
    "cold start": "#ff7f0e",
}


def write_report(path: Path, summary: dict[str, Any], title: str = "fastauthz load test") -> None:
    timeline = summary.get("timeline", [])
    authorizer = summary.get("authorizer")
    start = summary.get("start", 0)
    colds = [at - start for at in (authorizer or {}).get("cold_at", [])]
    charts = [
        _lines(
            "Connects per second",
            timeline,
            {"offered": [r["offered"] for r in timeline], "achieved": [r["achieved"] for r in timeline]},
            marks=colds,
        ),
        _lines("Latency, ms", timeline, {"p50": [r["p50_ms"] for r in timeline], "p99": [r["p99_ms"] for r in timeline]}),
        _stacked("Outcomes per second", timeline),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>{_figures(summary)}{''.join(charts)}{_authorizer(authorizer)}</body></html>\n"
    )


STYLE = (
    "body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0 16px}"
    "td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}"
    "h2{font-size:16px;margin:20px 0 4px}.legend span{margin-right:14px}.breach{color:#b00}"
)


def _figures(summary: dict[str, Any]) -> str:
    latency = summary.get("latency_ms", {})
    rows = [
        ("model", "open (--rate)" if summary.get("model") == "open" else "closed (users)"),
        ("connects", f"{summary.get('connects', 0):,}"),
        ("seconds", f"{summary.get('seconds', 0):.1f}"),
        ("offered per second", f"{summary.get('offered_per_second', 0):,.1f} (peak {summary.get('peak_offered_per_second', 0)})"),
        ("achieved per second", f"{summary.get('achieved_per_second', 0):,.1f} (peak {summary.get('peak_achieved_per_second', 0)})"),
        (
            "latency p50 / p90 / p99 / p99.9 / max, ms",
            " / ".join(f"{latency.get(q, 0):,.1f}" for q in ("p50", "p90", "p99", "p99.9", "max")),
        ),
    ]
    if summary.get("model") == "open":
        rows.append(("schedule lag, max", f"{summary.get('schedule_lag_s', 0):.2f} s"))
    rows += [(name, f"{count:,}") for name, count in summary.get("classes", {}).items()]
    breaches = summary.get("breaches", [])
    verdict = "".join(f"<p class='breach'>BREACH {escape(b)}</p>" for b in breaches) if breaches else "<p>passed: no threshold breached</p>"
    return _table(rows) + verdict


def _authorizer(authorizer: dict[str, Any] | None) -> str:
    if not authorizer:
        return "<h2>Authorizer</h2><p>its logs were not read (--lambda-log-group, --lambda-log-file)</p>"
    init, duration = authorizer["init_ms"], authorizer["duration_ms"]
    rows = [
        ("invocations", f"{authorizer['invocations']:,}"),
        ("cold starts", f"{authorizer['cold_starts']:,} ({authorizer['cold_share']:.1%})"),
        ("Init Duration p50 / p99, ms", f"{init['p50']:.0f} / {init['p99']:.0f}"),
        ("Duration p50 / p99, ms", f"{duration['p50']:.1f} / {duration['p99']:.1f}"),
        ("max memory used", f"{authorizer['max_memory_mb']} of {authorizer['memory_size_mb']} MB"),
        ("throttles", "not read" if authorizer["throttles"] is None else f"{authorizer['throttles']:,}"),
        *((f"failed: {status}", f"{count:,}") for status, count in authorizer["failed"].items()),
        *((f"reason {reason}", f"{count:,}") for reason, count in authorizer["reasons"].items()),
    ]
    return "<h2>Authorizer (from its logs)</h2>" + _table(rows)


def _table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows) + "</table>"


def _frame(title: str, timeline: list[dict[str, Any]], top: float, legend: list[str]) -> tuple[str, float, float]:
    """The chart's heading, axes and gridlines; returns (svg so far, x scale, y scale)."""
    seconds = max(len(timeline), 1)
    x_scale, y_scale = (WIDTH - 2 * PAD) / seconds, (HEIGHT - 2 * PAD) / (top or 1)
    keys = "".join(f"<span style='color:{COLOURS[name]}'>&#9632; {escape(name)}</span>" for name in legend)
    svg = [f"<h2>{escape(title)}</h2><div class='legend'>{keys}</div><svg width='{WIDTH}' height='{HEIGHT}' role='img'>"]
    for i in range(5):
        value = top * i / 4
        y = HEIGHT - PAD - value * y_scale
        svg.append(f"<line x1='{PAD}' x2='{WIDTH - PAD}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eee'/>")
        svg.append(f"<text x='{PAD - 6}' y='{y + 4:.1f}' text-anchor='end' font-size='11'>{value:,.0f}</text>")
    for i in range(0, seconds + 1, max(1, seconds // 10)):
        svg.append(f"<text x='{PAD + i * x_scale:.1f}' y='{HEIGHT - PAD + 16}' text-anchor='middle' font-size='11'>{i} s</text>")
    return "".join(svg), x_scale, y_scale


def _lines(title: str, timeline: list[dict[str, Any]], series: dict[str, list[float]], marks: list[float] = ()) -> str:  # type: ignore[assignment]
    top = max([max(values, default=0) for values in series.values()] + [1]) * 1.1
    svg, x_scale, y_scale = _frame(title, timeline, top, [*series, *(["cold start"] if marks else [])])
    parts = [svg]
    for name, values in series.items():
        points = " ".join(f"{PAD + (i + 0.5) * x_scale:.1f},{HEIGHT - PAD - v * y_scale:.1f}" for i, v in enumerate(values))
        parts.append(f"<polyline fill='none' stroke='{COLOURS[name]}' stroke-width='1.5' points='{points}'/>")
    for at in marks:  # one tick per cold start, along the top
        parts.append(
            f"<line x1='{PAD + at * x_scale:.1f}' x2='{PAD + at * x_scale:.1f}' y1='{PAD - 10}' y2='{PAD - 2}' stroke='{COLOURS['cold start']}'/>"
        )
    return "".join(parts) + "</svg>"


def _stacked(title: str, timeline: list[dict[str, Any]]) -> str:
    present = [name for name in CLASSES if any(row["classes"].get(name) for row in timeline)]
    top = max([sum(row["classes"].values()) for row in timeline] + [1]) * 1.1
    svg, x_scale, y_scale = _frame(title, timeline, top, present)
    parts = [svg]
    for i, row in enumerate(timeline):
        base = HEIGHT - PAD
        for name in present:
            height = row["classes"].get(name, 0) * y_scale
            if height:
                base -= height
                parts.append(
                    f"<rect x='{PAD + i * x_scale:.1f}' y='{base:.1f}' width='{max(x_scale - 1, 1):.1f}' height='{height:.1f}' fill='{COLOURS[name]}'/>"
                )
    return "".join(parts) + "</svg>"
