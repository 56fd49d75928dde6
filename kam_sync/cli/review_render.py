"""How `plan`, the impact preview and `explain` print: table, CSV and self-contained HTML.

Tables may shorten values to fit a terminal; CSV, JSON and HTML carry them in full.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Sequence
from typing import Any

TABLE_VALUE_CHARS = 60  # a table cell longer than this is shortened (CSV/JSON/HTML never are)


def shorten(text: str, limit: int = TABLE_VALUE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


# -- impact preview --------------------------------------------------------------------------------


def preview_table(data: dict[str, Any], *, limit: int) -> str:
    """The preview for a terminal: matrix, movers with their factors, key lists, stages."""
    lines = [
        f"impact preview: {data['accounts']} accounts, rules in use -> proposed rules "
        f"({data['source']}, as of {data['as_of']})",
        f"  tiers: {data['promoted']} promoted, {data['demoted']} demoted; "
        f"{data['score_changes']} scores changed",
        "  tier movement (rows: now, columns: proposed):",
    ]
    lines += _matrix_lines(data["tier_matrix"])
    changes = data["tier_changes"]
    if changes:
        lines.append("  accounts that change tier (promoted first, largest moves first):")
    for change in changes[:limit]:
        name = shorten(change["name"] or "", 30)
        lines.append(
            f"    {change['account_id']}  {name}  {change['from']} -> {change['to']}  "
            f"score {number(change['score_before'])} -> {number(change['score_after'])}"
        )
        for factor in change["factors"][:3]:
            lines.append(
                f"      {factor['label']}: {number(factor['points_before'])} -> "
                f"{number(factor['points_after'])} points"
            )
    if len(changes) > limit:
        lines.append(f"    ... and {len(changes) - limit} more (use --format json, csv or html)")
    for side in ("current", "proposed"):
        status = data["key_list"][side]
        cap = "no cap" if status["cap"] is None else f"cap {status['cap']} ({status['cap_mode']})"
        alerts = "; ".join(a["message"] for a in status["alerts"]) or "no alert"
        lines.append(
            f"  key list, {'rules in use' if side == 'current' else 'proposed rules'}: "
            f"{status['key_accounts']} accounts, {cap}, {status['over_cap']} over the cap; "
            f"growth alert: {'yes' if status['growth_alert'] else 'no'}; {alerts}"
        )
    if data["stage_matrix"]:
        lines.append("  plan stages that change (rows: now, columns: proposed):")
        lines += _matrix_lines(data["stage_matrix"])
    for side in ("current", "proposed"):
        c = data["checklist"][side]
        lines.append(
            f"  checklist, {'rules in use' if side == 'current' else 'proposed rules'}: "
            f"{c['assessed']} programme accounts, {c['complete']} complete, "
            f"{c['half_or_more']} at least half, mean {number(c['mean_completion'])} %"
        )
    lines.append(f"  checklist completion changes for {data['checklist']['changed']} accounts")
    return "\n".join(lines)


def _matrix_lines(matrix: dict[str, dict[str, int]]) -> list[str]:
    targets = list(dict.fromkeys(t for row in matrix.values() for t in row))
    width = max([len(t) for t in [*targets, *matrix]] + [8]) + 1
    lines = ["    " + " " * width + "".join(f"{t:>{width}}" for t in targets)]
    for source, row in matrix.items():
        cells = "".join(f"{row.get(t, 0) or '.':>{width}}" for t in targets)
        lines.append(f"    {source:<{width}}{cells}")
    return lines


def preview_csv(data: dict[str, Any]) -> str:
    """One row per account that changes tier, full values; factors as ``label before->after``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["account_id", "name", "from", "to", "direction", "score_before", "score_after", "factors"]
    )
    for c in data["tier_changes"]:
        factors = "; ".join(
            f"{f['label']} {number(f['points_before'])}->{number(f['points_after'])}"
            for f in c["factors"]
        )
        writer.writerow(
            [c["account_id"], c["name"] or "", c["from"], c["to"], c["direction"],
             c["score_before"], c["score_after"], factors]
        )  # fmt: skip
    return out.getvalue()


def preview_html(data: dict[str, Any]) -> str:
    """A self-contained HTML page: no script, no external file."""
    e = html.escape
    parts = [
        _html_head("kam-sync impact preview"),
        f"<h1>Impact preview</h1><p>{data['accounts']} accounts, {e(data['source'])}, as of "
        f"{e(data['as_of'])}: {data['promoted']} promoted, {data['demoted']} demoted, "
        f"{data['score_changes']} scores changed.</p>",
        "<h2>Tier movement</h2><p>Rows: tier under the rules in use; columns: proposed.</p>",
        _html_matrix(data["tier_matrix"]),
        "<h2>Accounts that change tier</h2>",
        _html_table(
            ["Account", "Name", "From", "To", "Score before", "Score after", "Factors that moved"],
            (
                [
                    c["account_id"],
                    c["name"] or "",
                    c["from"],
                    c["to"],
                    number(c["score_before"]),
                    number(c["score_after"]),
                    "; ".join(
                        f"{f['label']} {number(f['points_before'])} → {number(f['points_after'])}"
                        for f in c["factors"]
                    ),
                ]
                for c in data["tier_changes"]
            ),
        ),
        "<h2>Key list</h2>",
        _html_table(
            ["Rules", "Key accounts", "Cap", "Over the cap", "Growth alert", "Alerts"],
            (
                [
                    side,
                    str(s["key_accounts"]),
                    number(s["cap"]),
                    str(s["over_cap"]),
                    "yes" if s["growth_alert"] else "no",
                    "; ".join(a["message"] for a in s["alerts"]),
                ]
                for side, s in data["key_list"].items()
            ),
        ),
        "<h2>Plan stages that change</h2>",
        _html_matrix(data["stage_matrix"]),
        "<h2>Checklist</h2>",
        _html_table(
            ["Rules", "Programme accounts", "Complete", "At least half", "Mean completion %"],
            (
                [
                    side,
                    str(c["assessed"]),
                    str(c["complete"]),
                    str(c["half_or_more"]),
                    number(c["mean_completion"]),
                ]
                for side, c in data["checklist"].items()
                if side != "changed"
            ),
        ),
        "</body></html>",
    ]
    return "\n".join(parts)


def _html_head(title: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3}</style></head><body>"
    )


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_matrix(matrix: dict[str, dict[str, int]]) -> str:
    if not matrix:
        return "<p>None.</p>"
    targets = list(dict.fromkeys(t for row in matrix.values() for t in row))
    return _html_table(
        ["", *targets],
        ([source, *[str(row.get(t, "")) for t in targets]] for source, row in matrix.items()),
    )


# -- plan ------------------------------------------------------------------------------------------


def plan_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["account_id", "name", "field", "current", "new"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def plan_html(headline: str, rows: list[dict[str, str]]) -> str:
    return "\n".join(
        [
            _html_head("kam-sync plan"),
            f"<h1>kam-sync plan</h1><p>{html.escape(headline)} (nothing was written)</p>",
            _html_table(
                ["Account", "Name", "Field", "CRM now", "Would write"],
                ([r["account_id"], r["name"], r["field"], r["current"], r["new"]] for r in rows),
            ),
            "</body></html>",
        ]
    )


# -- explain ---------------------------------------------------------------------------------------


def explain_text(r: dict[str, Any]) -> str:
    """`kam-sync explain` for a terminal: every signal, open questions, gates in words."""
    lines = [
        f"{r['account_id']} {r.get('name') or ''}  (assessed {r['as_of']}, {r['source']})",
        f"  score {r['score']:.1f}/100, classification {r['classification']}, tier {r['tier']}"
        f" (was {r.get('previous_tier') or '-'}): {r['tier_reason']}",
    ]
    nxt = r.get("next_tier")
    if nxt is None:
        lines.append("  next tier: none above")
    elif nxt.get("held"):
        lines.append(
            f"  next tier: {nxt['tier']}: the score would do; held by its conditions or governance"
        )
    else:
        lines.append(
            f"  next tier: {nxt['tier']} needs {number(nxt['min_score'])}: "
            f"{number(nxt['points_to_go'], 2)} points to go"
        )
    lines.append(
        f"  key-list position: {r['cap_rank'] if r.get('cap_rank') is not None else '-'}; "
        f"flags: {', '.join(r['flags']) or '-'}"
    )
    lines.append(f"  money figures are in {r['currency']}")
    lines.append("  factors (points = score x weight share x 100):")
    for f in r["factor_details"]:
        lines.append(
            f"    {f['label']:<30} score {number(f['score'], 2):>5}  weight {f['weight']:g}  "
            f"{number(f['points'], 1):>5} points"
            + (f"  (no data: {f['missing']})" if f["missing"] else "")
        )
        for s in f["signals"]:
            raw = "-" if s["raw"] is None else s["raw"]
            lines.append(
                f"      {s['label']:<34} {raw!s:>12}  -> {number(s['score'], 2):>5}  "
                f"weight {s['weight']:g}  {number(s['contribution'], 2):>6} points"
            )
    completion = r.get("checklist_completion")
    if completion is None:
        lines.append("  checklist: outside the programme (no plan)")
    else:
        lines.append(f"  checklist: {completion:.0f} % complete")
        for cat, value in r["checklist_by_category"].items():
            lines.append(f"    {cat:<14} {'-' if value is None else f'{value:.0f} %'}")
        if r["open_questions"]:
            lines.append(f"  open questions ({len(r['open_questions'])}):")
            for q in r["open_questions"]:
                lines.append(f"    [{q['category_title']}] {q['text']}")
    lines.append(f"  plan stage: {r.get('plan_stage') or 'outside the programme'}")
    for gate in r["stage_gates"] if completion is not None else []:
        needs = f": {gate['requires']}" if gate.get("requires") else ""
        lines.append(f"    {gate['label']:<12} {gate['result']}{needs}")
    if r["missing_roles"]:
        lines.append(f"  missing team roles: {', '.join(r['missing_roles'])}")
    lines.append(f"  CRM explanation: {r['score_explanation']}")
    return "\n".join(lines)
