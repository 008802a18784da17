"""report.md: a run's summary for people."""

from __future__ import annotations

from evalkit.provenance import describe, route_models
from evalkit.report.format import interval, num, route_headers, route_rows


def table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def render_report(run) -> str:
    manifest, summary = run.manifest, run.summary
    out = [f"# {manifest['suite']['name']}: run {manifest['run_id']}", ""]
    out.append(
        f"Status: **{manifest['status']}**. evalkit {manifest['evalkit_version']}, started {manifest['started_at']}"
        + (", offline stand-ins" if manifest.get("offline") else "")
        + "."
    )
    out += [
        "",
        "Rates carry a 95% interval (Wilson for parse rate and accuracy, "
        "a bootstrap over cases for kappa and macro-F1) and their n, "
        "the number of cases (a case's repeats are one cluster; rates are per-call means). "
        "Macro-F1 averages over the labels that occur among the expected answers.",
        "Accuracy, kappa and macro-F1 count unparsed and errored rows as wrong; "
        "parse rate is over rows that returned an output.",
        "",
    ]
    out += [table(route_headers(), route_rows(summary)), ""]
    routes = manifest["routes"]
    found = {route: s.get("provenance") or {} for route, s in summary["routes"].items()}
    out += [
        "## Routes",
        "",
        table(
            ["route", "kind", "model", "ran as", "answers"],
            [
                [r, i["kind"], i["model"], route_models(i).ran_as or "", describe(found.get(r) or {})]
                for r, i in routes.items()
            ],
        ),
        "",
    ]
    weak = [r for r, info in found.items() if info and not info.get("evidence")]
    if weak:
        out += [
            f"**Not evidence about the configured models:** {', '.join(weak)} "
            "(answers from stand-ins or from recordings that are unverified or made for other requests).",
            "",
        ]
    for route, s in summary["routes"].items():
        out += [f"## {route}", ""]
        if s.get("retrieval"):
            r = s["retrieval"]
            out += [
                f"Retrieval: recall@{r['k']} {num(r['recall_at_k'])}, MRR {num(r['mrr'])} "
                f"over {r['n']} cases with gold sources.",
                "",
            ]
        if s["errors"]:
            kinds = ", ".join(f"{k}: {v}" for k, v in s["errors_by_type"].items())
            out += [f"Error rows: {s['errors']} ({kinds}).", ""]
        conf = s["confusion"]
        out += [
            "Confusion (rows: expected, columns: predicted):",
            "",
            table(
                ["expected \\ predicted", *conf["columns"]],
                [[label, *row] for label, row in zip(conf["labels"], conf["matrix"])],
            ),
            "",
        ]
        out += [
            "Per class:",
            "",
            table(
                ["label", "precision", "recall", "F1", "support"],
                [
                    [label, num(c["precision"]), num(c["recall"]), num(c["f1"]), c["support"]]
                    for label, c in s["per_class"].items()
                ],
            ),
            "",
        ]
        if s["by_tag"]:
            out += [
                "By tag:",
                "",
                table(
                    ["tag", "n", "accuracy", "95% CI", "parse rate"],
                    [
                        [tag, t["n"], num(t["accuracy"]), interval(t.get("accuracy_ci95")), num(t["parse_rate"])]
                        for tag, t in s["by_tag"].items()
                    ],
                ),
                "",
            ]
        out += field_lines(s)
    return "\n".join(out) + "\n"


def field_rows(route_summary: dict) -> list[list[str]]:
    """One row per scored field's metric: field, metric, value, 95% CI, n (every-field view)."""
    from evalkit.field_metrics import FIELD_METRICS

    rows = []
    if route_summary.get("exact_match"):
        e = route_summary["exact_match"]
        rows.append(["(all fields)", "exact match", num(e["value"]), interval(e["ci95"]), str(e["n"])])
    for field, metrics in (route_summary.get("fields") or {}).items():
        for name, entry in metrics.items():
            if name in FIELD_METRICS and isinstance(entry, dict):
                rows.append(
                    [
                        field,
                        FIELD_METRICS[name].label,
                        num(entry["value"]),
                        interval(entry.get("ci95")),
                        str(entry["n"]),
                    ]
                )
        agreement = (metrics.get("judge_agreement") or {}).get("weighted_kappa")
        if agreement:
            rows.append(
                [
                    field,
                    "judge agreement with human grades (weighted kappa)",
                    num(agreement["value"]),
                    interval(agreement.get("ci95")),
                    str(agreement["n"]),
                ]
            )
    return rows


def field_lines(route_summary: dict) -> list[str]:
    """The report's scored-field and repair-pass sections of one route."""
    out: list[str] = []
    rows = field_rows(route_summary)
    if rows:
        out += ["Scored fields:", "", table(["field", "metric", "value", "95% CI", "n"], rows), ""]
    repair = route_summary.get("repair")
    if repair:
        out += [
            f"Repair passes: {num(repair['passes_per_100_cases'], 1)} per 100 cases; parse rate "
            f"{num(repair['parse_rate_first_pass']['value'])} before repair, "
            f"{num(repair['parse_rate_after_repair']['value'])} after; "
            f"{num(repair['needed_repair']['value'])} of answers needed one.",
            "",
        ]
    return out
