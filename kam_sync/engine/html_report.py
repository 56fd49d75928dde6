"""The HTML report: one self-contained file (plotly.js and styles inlined), viewable offline.

Charts are drawn by plotly.js from the data in the page; every chart is a ``<section
data-chart="NAME">`` holding one plotly graph, so a browser test can find each one and check
that it drew its data. A part without data yet (no history, an empty retry queue) says so in
words instead of drawing an empty chart. Text from the CRM (account names) is escaped.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from kam_sync import __version__
from kam_sync.config.loader import LoadedProject
from kam_sync.engine.report_data import QueuedWrite, ReportData, RunRow, gather
from kam_sync.errors import KamSyncError
from kam_sync.store import StateStore
from kam_sync.store.history import Mover

# Rows a table lists before "and N more" (the charts count them all).
TABLE_ROWS = 50
_TIER_COLOURS = ("#1b4f72", "#2874a6", "#5dade2", "#a9cce3", "#d5d8dc", "#eaecee")
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def write_report(
    project: LoadedProject,
    store: StateStore,
    output: Path,
    *,
    runs: int | None = None,
    now: datetime | None = None,
) -> Path:
    """Write the report of ``project`` to ``output`` (replaced atomically); returns the path."""
    if output.is_dir():
        raise KamSyncError(f"{output} is a folder: give the report a file name")
    data = gather(
        project,
        store,
        runs=runs or project.config.report.runs,
        now=now or datetime.now(UTC),
    )
    page = render(data)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(output)
    return output


def render(data: ReportData) -> str:
    """The whole page."""
    sections = [
        _section(
            "tiers",
            "Tier distribution",
            _tier_chart(data) if data.tier_counts else None,
            "no run has assessed the portfolio yet",
        ),
        _section(
            "scores",
            "Scores, with the tier thresholds",
            _score_chart(data) if data.scores else None,
            "no scores yet",
        ),
        _section(
            "key-list",
            "Key-list size per run, against the cap",
            _key_list_chart(data) if data.key_list else None,
            "no run has recorded the key list yet",
        ),
        _section(
            "stages",
            f"Plan stages ({data.programme_accounts} programme accounts)",
            _stage_chart(data) if data.programme_accounts else None,
            "no account is in the programme",
        ),
        _section(
            "checklist",
            "Checklist completion and gaps by category",
            _checklist_chart(data) if data.checklist_completion else None,
            "no account is in the programme",
        ),
        _section(
            "roles",
            "Team-role coverage of programme accounts",
            _roles_chart(data) if data.role_coverage else None,
            "no account is in the programme",
        ),
        _section(
            "movers-last-run",
            "Top movers in the last run (scores against the run before)",
            _movers_chart(data.movers_last_run) if data.movers_last_run else None,
            "no score moved since the run before the last (or there was none)",
            _movers_table(data.movers_last_run),
        ),
        _section(
            "movers-window",
            f"Top movers over {data.mover_window_days} days",
            _movers_chart(data.movers_window) if data.movers_window else None,
            f"no score history from {data.mover_window_days} days before the last run yet",
            _movers_table(data.movers_window),
        ),
        _section(
            "runs",
            f"Run history (last {len(data.runs)} ledger entries)",
            _runs_chart(data.runs) if data.runs else None,
            "no run recorded yet",
            _runs_table(data.runs),
        ),
        _section(
            "queue",
            "Retry queue and dead letters",
            _queue_chart(data.queue) if data.queue else None,
            "the retry queue is empty and there are no dead letters",
            _queue_table(data.queue),
        ),
    ]
    return _PAGE.format(
        title=html.escape(f"kam-sync report: {data.project}"),
        plotlyjs=get_plotlyjs(),
        style=_STYLE,
        header=_header(data),
        sections="\n".join(sections),
    )


def _header(data: ReportData) -> str:
    last = data.last_run
    if last is None:
        liveness = "<p class='warn'>No sync run is recorded in this state store yet.</p>"
    else:
        ended = _time(last.finished_at) if last.finished_at else "not finished"
        code = "-" if last.exit_code is None else str(last.exit_code)
        healthy = last.exit_code is None or last.exit_code in (0, 3)
        liveness = (
            f"<p class='{'ok' if healthy else 'warn'}'>Last sync: run "
            f"#{last.run_id}, started {_time(last.started_at)}, ended {html.escape(ended)}, "
            f"status {html.escape(last.status)}, exit code {code}.</p>"
        )
    assessed = _time(data.as_of) if data.as_of else "never"
    return (
        f"<h1>{html.escape(data.project)}: key account management</h1>"
        f"<p>CRM {html.escape(data.crm)}; portfolio as assessed {assessed}; report made "
        f"{_time(data.generated_at)} by kam-sync {html.escape(__version__)}.</p>{liveness}"
    )


def _section(name: str, title: str, figure: go.Figure | None, empty: str, extra: str = "") -> str:
    if figure is None:
        body = f"<p class='empty' data-empty='{name}'>{html.escape(empty)}.</p>"
    else:
        figure.update_layout(
            template="simple_white",
            margin={"l": 60, "r": 30, "t": 30, "b": 60},
            height=380,
            font={"family": "system-ui, sans-serif", "size": 12},
        )
        body = pio.to_html(
            figure,
            include_plotlyjs=False,
            full_html=False,
            div_id=f"chart-{name}",
            config=_PLOT_CONFIG,
        )
    return (
        f"<section data-chart='{name}' class='{'empty' if figure is None else 'chart'}'>"
        f"<h2>{html.escape(title)}</h2>{body}{extra}</section>"
    )


def _tier_chart(data: ReportData) -> go.Figure:
    tiers = list(data.tier_counts)
    colours = [_TIER_COLOURS[min(i, len(_TIER_COLOURS) - 1)] for i in range(len(tiers))]
    return go.Figure(
        go.Bar(
            x=tiers,
            y=[data.tier_counts[t] for t in tiers],
            marker_color=colours,
            text=[data.tier_counts[t] for t in tiers],
            textposition="outside",
            name="accounts",
        ),
        layout={"yaxis_title": "accounts", "xaxis_title": "tier"},
    )


def _score_chart(data: ReportData) -> go.Figure:
    figure = go.Figure(
        go.Histogram(x=data.scores, xbins={"start": 0, "end": 100, "size": 2.5}, name="accounts"),
        layout={"xaxis_title": "score", "yaxis_title": "accounts", "xaxis_range": [0, 100]},
    )
    for tier, threshold in data.tier_thresholds:
        figure.add_vline(
            x=threshold,
            line_dash="dash",
            line_color="#c0392b",
            annotation_text=f"{tier} {threshold:g}",
            annotation_position="top",
        )
    return figure


def _key_list_chart(data: ReportData) -> go.Figure:
    points = data.key_list
    x = [p.as_of for p in points]
    labels = [f"run #{p.run_id}: +{p.added} / -{p.removed}" for p in points]
    figure = go.Figure(
        go.Scatter(
            x=x,
            y=[p.key_count for p in points],
            mode="lines+markers",
            name="key accounts",
            text=labels,
            hovertemplate="%{x}<br>%{y} key accounts<br>%{text}<extra></extra>",
        ),
        layout={"yaxis_title": "key accounts", "yaxis_rangemode": "tozero"},
    )
    if any(p.cap is not None for p in points):
        figure.add_trace(
            go.Scatter(
                x=x,
                y=[p.cap for p in points],
                mode="lines",
                line={"dash": "dash", "color": "#7f8c8d"},
                name="cap",
                line_shape="hv",
            )
        )
    alerted = [p for p in points if p.growth_alerts]
    if alerted:
        figure.add_trace(
            go.Scatter(
                x=[p.as_of for p in alerted],
                y=[p.key_count for p in alerted],
                mode="markers",
                marker={"symbol": "triangle-up", "size": 14, "color": "#c0392b"},
                name="growth alert",
                text=["<br>".join(p.growth_alerts) for p in alerted],
                hovertemplate="%{x}<br>%{text}<extra>growth alert</extra>",
            )
        )
    return figure


def _stage_chart(data: ReportData) -> go.Figure:
    stages = list(data.stage_counts)
    # A stage is the highest gate passed: accounts at a later stage reached this one too.
    reached = [sum(data.stage_counts[s] for s in stages[i:]) for i in range(len(stages))]
    return go.Figure(
        go.Funnel(
            y=stages,
            x=reached,
            customdata=[data.stage_counts[s] for s in stages],
            texttemplate="%{x} reached, %{customdata} here",
            hovertemplate="%{y}: %{x} accounts reached it, %{customdata} are at it<extra></extra>",
            name="accounts",
        )
    )


def _checklist_chart(data: ReportData) -> go.Figure:
    categories = list(data.checklist_completion)
    return go.Figure(
        [
            go.Bar(
                x=categories,
                y=[data.checklist_completion[c] for c in categories],
                name="mean completion (%)",
                texttemplate="%{y:.0f} %",
                textposition="outside",
                offsetgroup="completion",
            ),
            go.Bar(
                x=categories,
                y=[data.checklist_gaps.get(c, 0) for c in categories],
                name="accounts with gaps",
                yaxis="y2",
                marker_color="#e59866",
                offsetgroup="gaps",
            ),
        ],
        layout={
            "barmode": "group",
            "yaxis": {"title": "mean completion (%)", "range": [0, 110]},
            "yaxis2": {
                "title": "accounts below 100 %",
                "overlaying": "y",
                "side": "right",
                "rangemode": "tozero",
            },
            "legend": {"orientation": "h", "y": -0.25},
        },
    )


def _roles_chart(data: ReportData) -> go.Figure:
    roles = list(data.role_coverage)
    return go.Figure(
        go.Bar(
            y=roles,
            x=[data.role_coverage[r] for r in roles],
            orientation="h",
            texttemplate="%{x:.0f} %",
            textposition="outside",
            name="covered",
        ),
        layout={"xaxis": {"title": "programme accounts covering the role (%)", "range": [0, 110]}},
    )


def _movers_chart(movers: Sequence[Mover]) -> go.Figure:
    ordered = sorted(movers, key=lambda m: m.change)
    return go.Figure(
        go.Bar(
            # plotly reads tags in labels (<b>, <br>); a name is shown as written.
            y=[html.escape(f"{m.name or m.account_id} ({m.account_id})") for m in ordered],
            x=[round(m.change, 2) for m in ordered],
            orientation="h",
            marker_color=["#27ae60" if m.change > 0 else "#c0392b" for m in ordered],
            customdata=[[m.previous_score, m.score] for m in ordered],
            hovertemplate="%{y}<br>%{customdata[0]:.1f} -> %{customdata[1]:.1f}<extra></extra>",
            name="score change",
        ),
        layout={"xaxis_title": "score change (points)", "yaxis_automargin": True},
    )


def _runs_chart(runs: Sequence[RunRow]) -> go.Figure:
    labels = [f"#{r.run_id} {r.mode}" for r in runs]
    kinds = sorted({k for r in runs for k in r.api_calls if k != "bulk_jobs"})
    figure = go.Figure(
        [go.Bar(x=labels, y=[r.api_calls.get(k, 0) for r in runs], name=k) for k in kinds],
        layout={
            "barmode": "stack",
            "yaxis": {"title": "API calls"},
            "yaxis2": {"title": "duration (s)", "overlaying": "y", "side": "right"},
            "legend": {"orientation": "h", "y": -0.25},
        },
    )
    figure.add_trace(
        go.Scatter(
            x=labels,
            y=[r.duration_seconds for r in runs],
            mode="lines+markers",
            name="duration (s)",
            yaxis="y2",
            text=[f"status {r.status}, exit code {_code(r)}" for r in runs],
            hovertemplate="%{x}: %{y:.1f} s<br>%{text}<extra></extra>",
        )
    )
    return figure


def _queue_chart(queue: Sequence[QueuedWrite]) -> go.Figure:
    fields = sorted({q.field for q in queue})
    retry = Counter(q.field for q in queue if not q.dead)
    dead = Counter(q.field for q in queue if q.dead)
    return go.Figure(
        [
            go.Bar(x=fields, y=[retry[f] for f in fields], name="retry queue"),
            go.Bar(x=fields, y=[dead[f] for f in fields], name="dead letters"),
        ],
        layout={"barmode": "stack", "yaxis_title": "field writes", "xaxis_title": "field"},
    )


def _movers_table(movers: Sequence[Mover]) -> str:
    rows = [
        [
            m.name or "",
            m.account_id,
            f"{m.previous_score:.1f}",
            f"{m.score:.1f}",
            f"{m.change:+.1f}",
            f"{m.previous_tier or '-'} -> {m.tier or '-'}",
        ]
        for m in movers
    ]
    return _table(["account", "id", "score then", "score now", "change", "tier"], rows)


def _runs_table(runs: Sequence[RunRow]) -> str:
    rows = [
        [
            f"#{r.run_id}",
            r.mode,
            _time(r.started_at),
            "-" if r.duration_seconds is None else f"{r.duration_seconds:.1f} s",
            r.status,
            _code(r),
            ", ".join(f"{k} {v}" for k, v in sorted(r.api_calls.items())) or "-",
            f"{r.accounts_written} accounts, {r.fields_written} fields",
            str(r.write_failures),
            str(r.quarantined),
            ", ".join(r.alerts) or "-",
        ]
        for r in reversed(runs)
    ]
    return _table(
        [
            "run",
            "mode",
            "started",
            "duration",
            "status",
            "exit code",
            "calls by kind",
            "written",
            "failures",
            "quarantined",
            "alerts",
        ],
        rows,
    )


def _queue_table(queue: Sequence[QueuedWrite]) -> str:
    rows = [
        [
            q.name or "",
            q.account_id,
            q.field,
            "dead letter" if q.dead else "retry queue",
            str(q.attempts),
            q.error_code or "",
        ]
        for q in queue
    ]
    return _table(["account", "id", "field", "where", "attempts", "last error code"], rows)


def _table(head: list[str], rows: list[list[str]]) -> str:
    if not rows:
        return ""
    shown = rows[:TABLE_ROWS]
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in shown
    )
    more = (
        f"<p class='more'>... and {len(rows) - TABLE_ROWS} more</p>"
        if len(rows) > TABLE_ROWS
        else ""
    )
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>{more}"


def _code(run: RunRow) -> str:
    return "-" if run.exit_code is None else str(run.exit_code)


def _time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
section { border-top: 1px solid #ddd; padding-top: .5rem; }
p.ok { color: #1e8449; } p.warn { color: #b03a2e; font-weight: bold; }
p.empty { color: #666; font-style: italic; }
table { border-collapse: collapse; font-size: .85rem; margin-top: .5rem; width: 100%; }
th, td { border-bottom: 1px solid #eee; padding: .2rem .5rem; text-align: left; }
th { background: #f4f6f7; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script type="text/javascript">{plotlyjs}</script>
</head>
<body>
<header>{header}</header>
{sections}
</body>
</html>
"""
