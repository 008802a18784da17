// evalkit view: Runs, Grid, Case and Diff over run directories.
// Every element is built with createElement and every piece of data goes in as text
// (textContent, text nodes, attribute values): nothing from a run is ever parsed as HTML.
// Served by `evalkit view`, the page asks /api/...; in a bundle (`evalkit view --bundle`) the
// same data sits in <script type="application/json" id="evalkit-data"> and no request is made.
"use strict";

const EMBEDDED = document.getElementById("evalkit-data");
const BUNDLE = EMBEDDED ? JSON.parse(EMBEDDED.textContent) : null;
const app = document.getElementById("app");
const crumbs = document.getElementById("crumbs");
const gridFilters = {};  // run id -> the grid's filters, kept while moving between pages

function h(tag, attrs, ...kids) {
  const el = tag instanceof Element ? tag : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const kid of kids.flat()) if (kid) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

function fmt(value, digits = 3) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  return String(value);
}
function pct(metric) {
  if (!metric || metric.value === null || metric.value === undefined) return "–";
  const ci = metric.ci95 ? ` [${fmt(metric.ci95[0])}, ${fmt(metric.ci95[1])}]` : "";
  return `${fmt(metric.value)}${ci}`;
}
function errorText(error) {
  if (error && typeof error === "object") return error.type ? `${error.type}: ${error.message ?? ""}` : pretty(error);
  return error ? String(error) : "";
}
// a provenance is a word ("configured", "stand-in", "cache", ...) or an object: inline or folded
function provenanceOf(value, label) {
  if (value === null || value === undefined) return null;
  if (typeof value !== "object") return h("span", {class: "provenance"}, ` · ${label} ${value}`);
  return h("details", {class: "provenance"}, h("summary", {}, label), h("pre", {}, pretty(value)));
}
function shortSha(sha) { return sha ? String(sha).slice(0, 10) : "–"; }
function pretty(value) { return typeof value === "string" ? value : JSON.stringify(value, null, 2); }
function link(href, text, attrs) { return h("a", Object.assign({href}, attrs || {}), text); }
function enc(value) { return encodeURIComponent(value); }
const MARK = {right: "✓", wrong: "✗", unparsed: "unparsed", error: "error"};
function badge(status, text) {
  return h("span", {class: `badge ${status || "none"}`, "data-status": status || "none"}, text === undefined ? (MARK[status] || "–") : text);
}

async function load(kind, a, b) {
  if (BUNDLE) {
    const found = kind === "runs" ? BUNDLE.runs
      : kind === "grid" ? BUNDLE.grids[a]
      : kind === "case" ? (BUNDLE.cases[a] || {})[b]
      : BUNDLE.diffs[`${a}..${b}`];
    if (!found) throw new Error(kind === "diff"
      ? "this bundle holds the diff of each run with the one before it only: serve the runs with `evalkit view` for any pair"
      : `${kind} not in this bundle`);
    return found;
  }
  const url = kind === "runs" ? "api/runs"
    : kind === "grid" ? `api/runs/${enc(a)}`
    : kind === "case" ? `api/runs/${enc(a)}/cases/${enc(b)}`
    : `api/diff/${enc(a)}/${enc(b)}`;
  const response = await fetch(url, {cache: "no-store"});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function show(...kids) { app.replaceChildren(...kids.flat(Infinity).filter((kid) => kid !== null && kid !== undefined && kid !== false)); }

function setCrumbs(...parts) {
  crumbs.replaceChildren(...parts.flatMap((part, i) => (i ? [h("span", {class: "sep"}, " / "), part] : [part])));
}

// -- Runs --------------------------------------------------------------------------------------

function chart(suite, history, headline) {
  const runs = history.runs;
  const routes = Object.keys(history.routes);
  const width = 640, height = 220, left = 44, right = 130, top = 14, bottom = 34;
  const x = (i) => left + (runs.length === 1 ? (width - left - right) / 2 : i * (width - left - right) / (runs.length - 1));
  const y = (v) => top + (1 - v) * (height - top - bottom);
  const svg = s("svg", {viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img",
                        "aria-label": `${headline} of each route across the runs of ${suite}`});
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(s("line", {x1: left, x2: width - right, y1: y(tick), y2: y(tick), class: "grid-line"}));
    svg.append(s("text", {x: left - 6, y: y(tick) + 4, "text-anchor": "end", class: "tick"}, fmt(tick, 2)));
  }
  runs.forEach((run, i) => {
    svg.append(s("text", {x: x(i), y: height - bottom + 16, "text-anchor": "middle", class: "tick"},
                 (run.started_at || run.id).slice(5, 16).replace("T", " ")));
  });
  routes.forEach((route, r) => {
    const colour = `c${r % 8}`;
    const points = runs.map((run, i) => [i, history.routes[route][run.id]]).filter(([, v]) => v !== null && v !== undefined);
    if (points.length > 1) {
      svg.append(s("polyline", {points: points.map(([i, v]) => `${x(i)},${y(v)}`).join(" "), class: `line ${colour}`}));
    }
    for (const [i, v] of points) {
      svg.append(s("circle", {cx: x(i), cy: y(v), r: 3.5, class: `dot ${colour}`},
                   s("title", {}, `${route} · ${runs[i].id}: ${headline} ${fmt(v)}`)));
    }
    svg.append(s("text", {x: width - right + 10, y: top + 14 + r * 16, class: `legend ${colour}`}, `■ ${route}`));
  });
  return h("figure", {class: "history"}, h("figcaption", {}, `${suite}: ${headline} per route across ${runs.length} run(s)`), svg);
}

function routeSummary(route, headline, metrics) {
  const others = metrics.filter((m) => m.name !== headline)
    .map((m) => ` · ${m.label} ${m.percent ? pct(route.metrics[m.name]) : fmt((route.metrics[m.name] || {}).value)}`);
  const origin = route.ran_as && route.ran_as !== route.model ? ` ran as ${route.ran_as}` : "";
  return h("li", {class: "route"},
    h("b", {}, route.name), ` (${route.kind || "?"}) `, h("code", {}, route.model || "?"), origin,
    route.endpoint ? [" · endpoint ", h("code", {}, pretty(route.endpoint))] : null,
    h("span", {class: "metric"}, ` ${headline} ${pct(route.metrics[headline])}`),
    others.join(""),
    route.errors ? ` · ${route.errors} error rows` : null,
    route.evidence === false ? h("span", {class: "muted"}, " (not evidence about the configured model)") : null,
    route.stale_parts && route.stale_parts.length ? h("span", {class: "warning"}, ` stale: ${route.stale_parts.join(", ")}`) : null,
    provenanceOf(route.provenance, "provenance"));
}

async function showRuns() {
  const data = await load("runs");
  setCrumbs(h("span", {}, "Runs"));
  const previousOf = {};
  const lastBySuite = {};
  for (const run of [...data.runs].reverse()) {
    if (lastBySuite[run.suite]) previousOf[run.id] = lastBySuite[run.suite];
    lastBySuite[run.suite] = run.id;
  }
  const charts = Object.entries(data.history).filter(([, hist]) => hist.runs.length > 0)
    .map(([suite, hist]) => chart(suite, hist, data.headline));
  const table = h("table", {class: "runs", id: "runs"},
    h("thead", {}, h("tr", {}, ["started", "suite", "status", "git commit", "cases", "routes", ""].map((t) => h("th", {}, t)))),
    h("tbody", {}, data.runs.map((run) => h("tr", {"data-run": run.id},
      h("td", {}, link(`#/run/${enc(run.id)}`, (run.started_at || "?").replace("T", " ")), h("div", {class: "muted"}, run.id)),
      h("td", {}, run.suite || "?"),
      h("td", {}, badge(run.status === "complete" ? "right" : "wrong", run.status || "?"),
        run.offline ? h("div", {class: "muted"}, "offline stand-ins") : null,
        run.replay ? h("div", {class: "muted"}, "replayed") : null),
      h("td", {}, h("code", {title: run.git_commit || ""}, shortSha(run.git_commit)), run.git_dirty ? " (dirty)" : ""),
      h("td", {}, fmt(run.n_cases), run.selection ? h("div", {class: "muted"}, "a selection") : null),
      h("td", {}, h("ul", {class: "plain"}, run.routes.map((route) => routeSummary(route, data.headline, data.metrics)))),
      h("td", {}, link(`#/run/${enc(run.id)}`, "grid"),
        previousOf[run.id] ? [h("br"), link(`#/diff/${enc(previousOf[run.id])}/${enc(run.id)}`, "diff with the run before")] : null)))));
  const pick = (id) => h("select", {id}, data.runs.map((run) => h("option", {value: run.id}, `${run.suite} · ${run.started_at || run.id}`)));
  const selA = pick("diff-a"), selB = pick("diff-b");
  if (data.runs.length > 1) selA.selectedIndex = 1;
  const diffForm = h("p", {class: "diff-form"}, "Diff two runs: ", selA, " → ", selB, " ",
    h("button", {type: "button", onclick: () => { location.hash = `#/diff/${enc(selA.value)}/${enc(selB.value)}`; }}, "diff"));
  show(
    h("h1", {}, `Runs (${data.runs.length})`),
    data.runs.length ? null : h("p", {}, "No run directories here."),
    h("div", {class: "charts"}, charts),
    data.runs.length > 1 ? diffForm : null,
    table);
}

// -- Grid --------------------------------------------------------------------------------------

function cellLabel(cell) {
  if (cell.status === "error") return "error";
  if (cell.status === "unparsed") return "unparsed";
  return cell.predicted ?? "–";
}

function firstCell(item, route) { return ((item.cells[route] || [])[0]) || null; }

function matches(item, f, routes) {
  const shown = f.route ? [f.route] : routes;
  if (f.tag && !item.tags.includes(f.tag)) return false;
  if (f.expected && item.expected !== f.expected) return false;
  if (f.predicted && !shown.some((r) => (item.cells[r] || []).some((c) => c.predicted === f.predicted))) return false;
  if (f.wrong && !shown.some((r) => (item.cells[r] || []).some((c) => c.status !== "right"))) return false;
  if (f.changedA && f.changedB && f.changedA !== f.changedB) {
    const a = firstCell(item, f.changedA), b = firstCell(item, f.changedB);
    if (!a || !b || (a.predicted === b.predicted && a.status === b.status)) return false;
  }
  if (f.q) {
    const q = f.q.toLowerCase();
    const outputs = shown.flatMap((r) => (item.cells[r] || []).map((c) => `${c.output || ""} ${errorText(c.error)}`));
    const haystack = [item.id, item.text, item.expected || "", ...outputs].join("\n").toLowerCase();
    if (!haystack.includes(q)) return false;
  }
  return true;
}

async function showGrid(runId) {
  const data = await load("grid", runId);
  const f = gridFilters[runId] || (gridFilters[runId] = {route: "", tag: "", expected: "", predicted: "", wrong: false, changedA: "", changedB: "", q: ""});
  setCrumbs(link("#/", "Runs"), h("span", {}, `${data.run.suite} · ${data.run.started_at || runId}`));
  const routes = data.routes;
  const select = (id, key, label, options) => {
    const el = h("select", {id, "aria-label": label, onchange: () => { f[key] = el.value; apply(); }},
      h("option", {value: ""}, label), options.map((o) => h("option", {value: o}, o)));
    el.value = f[key];
    return el;
  };
  const predictedOptions = [...new Set(data.cases.flatMap((c) => Object.values(c.cells).flat().map((x) => x.predicted)).filter((x) => x))].sort();
  const expectedOptions = [...new Set(data.cases.map((c) => c.expected).filter((x) => x !== null && x !== undefined))].sort();
  const search = h("input", {id: "search", type: "search", placeholder: "search inputs and outputs", value: f.q,
                             oninput: () => { f.q = search.value; apply(); }});
  const wrong = h("input", {id: "wrong-only", type: "checkbox", onchange: () => { f.wrong = wrong.checked; apply(); }});
  wrong.checked = f.wrong;
  const controls = h("div", {class: "filters"},
    select("filter-route", "route", "every route", routes),
    select("filter-tag", "tag", "every tag", data.tags),
    select("filter-expected", "expected", "any expected label", expectedOptions),
    select("filter-predicted", "predicted", "any predicted label", predictedOptions),
    h("label", {}, wrong, " wrong only"),
    h("span", {class: "changed"}, "changed between ", select("changed-a", "changedA", "route A", routes), " and ",
      select("changed-b", "changedB", "route B", routes)),
    search);
  const counts = h("p", {id: "counts", class: "counts"});
  const headRow = h("tr", {}, h("th", {}, "case"), h("th", {}, "expected"),
    routes.map((r) => h("th", {"data-route": r}, r)));
  const body = h("tbody", {});
  const rows = data.cases.map((item) => {
    const tr = h("tr", {"data-case": item.id},
      h("td", {class: "case"}, link(`#/case/${enc(runId)}/${enc(item.id)}`, item.id, {class: "case-link"}),
        item.tags.length ? h("div", {class: "tags"}, item.tags.map((t) => h("span", {class: "tag"}, t))) : null,
        h("div", {class: "snippet"}, item.text.length > 140 ? `${item.text.slice(0, 140)}…` : item.text)),
      h("td", {}, item.expected ?? "–"),
      routes.map((route) => h("td", {"data-route": route, class: "cell"},
        (item.cells[route] || []).map((cell) => h("div", {class: `answer ${cell.status}`, "data-status": cell.status,
                                                          title: cell.error ? errorText(cell.error) : (cell.output || "")},
          badge(cell.status), " ", h("span", {class: "label"}, cellLabel(cell)),
          (item.cells[route] || []).length > 1 ? h("span", {class: "muted"}, ` #${cell.repeat}`) : null,
          cell.fields.length > 1 ? h("div", {class: "marks"}, cell.fields.slice(1).filter((m) => m.status).map((m) =>
            h("span", {class: `field ${m.status}`, title: `${m.field}: expected ${pretty(m.expected)}, got ${pretty(m.got)}`},
              `${m.field} ${MARK[m.status] || m.status} `))) : null)))));
    body.append(tr);
    return {item, tr};
  });
  const table = h("table", {class: "grid", id: "grid"}, h("thead", {}, headRow), body);

  function apply() {
    let shown = 0;
    const tally = Object.fromEntries(routes.map((r) => [r, {right: 0, wrong: 0, unparsed: 0, error: 0}]));
    for (const {item, tr} of rows) {
      const ok = matches(item, f, routes);
      tr.hidden = !ok;
      if (!ok) continue;
      shown += 1;
      for (const r of routes) for (const c of item.cells[r] || []) tally[r][c.status] += 1;
    }
    for (const el of table.querySelectorAll("[data-route]")) el.hidden = Boolean(f.route) && el.dataset.route !== f.route;
    const parts = (f.route ? [f.route] : routes).map((r) => {
      const t = tally[r];
      return h("span", {class: "tally", "data-route": r}, h("b", {}, r), `: ${t.right} right, ${t.wrong} wrong, ${t.unparsed} unparsed, ${t.error} error`);
    });
    counts.replaceChildren(h("span", {id: "shown"}, `${shown} of ${rows.length} cases`), " · ", ...parts.flatMap((p, i) => (i ? ["; ", p] : [p])));
  }
  show(h("h1", {}, `Grid · ${data.run.suite}`),
    h("p", {class: "muted"}, `run ${runId} · commit ${shortSha(data.run.git_commit)} · fields marked: ${data.fields.join(", ")}`),
    controls, counts, table);
  apply();
}

// -- Case --------------------------------------------------------------------------------------

function keyValues(entries) {
  return h("dl", {class: "kv"}, entries.filter(([, v]) => v !== undefined).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v === null ? "–" : v)]));
}

function requestBlock(answer, recorded) {
  const req = answer.request;
  if (!req) {
    return h("section", {class: "request missing"}, h("h4", {}, "Request"),
      h("p", {class: "muted"}, recorded ? "not in this run's requests.jsonl"
        : "this run did not record its requests (requests.jsonl is written by newer versions of evalkit run)"));
  }
  const messages = Array.isArray(req.messages) ? req.messages : [];
  const title = req.source === "re-rendered"
    ? h("h4", {}, "Request ", h("span", {class: "muted"}, "rendered again from the unchanged suite (this run did not record requests.jsonl)"))
    : h("h4", {}, "Request, as sent");
  return h("section", {class: `request ${req.source || ""}`, "data-source": req.source || "recorded"}, title,
    req.model || req.endpoint ? h("p", {class: "muted"}, req.model ? ["model ", h("code", {}, req.model)] : null,
      req.endpoint ? [" · endpoint ", h("code", {}, pretty(req.endpoint))] : null) : null,
    req.request_sha256 ? h("p", {class: "muted"}, "sha256 ", h("code", {}, req.request_sha256)) : null,
    messages.map((m) => h("div", {class: "message"}, h("div", {class: "role"}, m.role ?? "?"),
      h("pre", {class: "content"}, typeof m.content === "string" ? m.content : pretty(m.content)))),
    h("details", {}, h("summary", {}, "parameters"), h("pre", {class: "params"}, pretty(req.params ?? {}))));
}

function chunksBlock(chunks) {
  if (!chunks.length) return null;
  return h("section", {class: "chunks"}, h("h4", {}, `Retrieved (${chunks.length})`),
    h("ol", {}, chunks.map((c) => h("li", {class: c.gold ? "chunk gold" : "chunk", "data-chunk": c.id},
      h("div", {}, h("code", {}, c.id), " ", c.score === null || c.score === undefined ? "" : `score ${fmt(c.score)} `,
        c.gold ? badge("right", "gold source") : h("span", {class: "muted"}, "not a gold source")),
      c.text === null || c.text === undefined ? h("p", {class: "muted"}, "text unavailable (the corpus is not where the suite says)")
        : h("pre", {class: "chunk-text"}, c.text)))));
}

function answerBlock(answer, recorded, many) {
  const n = answer.numbers;
  return h("div", {class: `answer-card ${answer.status}`, "data-status": answer.status},
    h("div", {class: "verdict"}, badge(answer.status), " ", h("b", {}, cellLabel(answer)),
      many ? h("span", {class: "muted"}, ` repeat ${answer.repeat}`) : null, " · expected ", answer.expected ?? "–",
      answer.exact_match === true || answer.exact_match === false ? [" · every field ", badge(answer.exact_match ? "right" : "wrong")] : null),
    h("table", {class: "fields"}, h("tr", {}, h("th", {}, "field"), h("th", {}, "expected"), h("th", {}, "got"), h("th", {}, "")),
      answer.fields.map((m) => h("tr", {}, h("td", {}, m.field), h("td", {}, m.expected === null ? "–" : pretty(m.expected)),
        h("td", {}, m.got === null || m.got === undefined ? "–" : pretty(m.got),
          m.distance ? h("div", {class: "muted"}, `${m.distance} step(s) off`) : null,
          m.checks ? h("div", {class: "checks"}, Object.entries(m.checks).map(([name, ok]) =>
            h("span", {class: `field ${ok ? "right" : "wrong"}`}, `${name} ${ok ? "✓" : "✗"} `))) : null,
          m.judge ? h("div", {class: "judge"}, m.judge.error
            ? `judge ${m.judge.model}: ${errorText(m.judge.error)}`
            : `judge ${m.judge.model}: grade ${fmt(m.judge.grade)} ${m.judge.passed ? "✓" : "✗"}`) : null),
        h("td", {}, m.status ? badge(m.status) : "not scored")))),
    keyValues([["tokens in / out", `${fmt(n.input_tokens)} / ${fmt(n.output_tokens)}`], ["latency", `${fmt(n.latency_ms, 1)} ms`],
               ["cost", n.cost_usd === null ? "unknown" : `$${fmt(n.cost_usd, 6)}`], ["attempts", fmt(n.attempts)],
               ["repair passes", fmt(answer.repair_passes)], ["cached", n.cached ? "yes" : "no"],
               ["model reported", n.model], ["finish reason", n.finish_reason], ["request id", n.request_id],
               ["request sha256", answer.request_sha256 || undefined]]),
    answer.error ? h("section", {}, h("h4", {}, "Error"), h("pre", {class: "error-text"}, errorText(answer.error))) : null,
    h("section", {}, h("h4", {}, "Raw output"), h("pre", {class: "output"}, answer.output ?? "(none)")),
    answer.parse_error ? h("p", {class: "parse-error"}, "parse: ", answer.parse_error) : null,
    answer.repair && answer.repair.outputs ? h("details", {class: "repair"}, h("summary", {}, `earlier passes (${answer.repair.outputs.length})`),
      answer.repair.outputs.map((output, i) => [h("pre", {class: "earlier-output"}, output ?? ""),
        (answer.repair.parse_errors || [])[i] ? h("p", {class: "parse-error"}, "parse: ", answer.repair.parse_errors[i]) : null])) : null,
    answer.parsed !== null && answer.parsed !== undefined
      ? h("section", {}, h("h4", {}, "Parsed"), h("pre", {class: "parsed"}, pretty(answer.parsed))) : null,
    chunksBlock(answer.chunks),
    requestBlock(answer, recorded),
    answer.request_parts ? h("details", {}, h("summary", {}, "request parts"), h("pre", {}, pretty(answer.request_parts))) : null,
    provenanceOf(answer.provenance, "answer provenance"),
    answer.stale_parts && answer.stale_parts.length ? h("p", {class: "warning"}, `stale parts: ${answer.stale_parts.join(", ")}`) : null);
}

async function showCase(runId, caseId) {
  const data = await load("case", runId, caseId);
  const c = data.case;
  setCrumbs(link("#/", "Runs"), link(`#/run/${enc(runId)}`, `${data.run.suite} · grid`), h("span", {}, c.id));
  const nav = h("p", {class: "pager"},
    data.previous ? link(`#/case/${enc(runId)}/${enc(data.previous)}`, `← ${data.previous}`, {class: "previous"}) : null, " ",
    data.next ? link(`#/case/${enc(runId)}/${enc(data.next)}`, `${data.next} →`, {class: "next"}) : null,
    h("span", {class: "muted"}, " (← → keys)"));
  const input = c.text || (typeof c.input === "string" ? c.input : pretty(c.input ?? ""));  // fields as `name: value` lines
  const columns = h("div", {class: "routes"});
  columns.style.setProperty("--routes", String(data.routes.length));  // CSSOM, not a style attribute: the CSP allows it
  show(
    h("h1", {}, "Case ", h("span", {id: "case-id"}, c.id)), nav,
    keyValues([["tags", (c.tags || []).join(", ") || "–"], ["expected", pretty(c.expected ?? "–")],
               ["gold sources", (c.sources || []).join(", ") || "–"], ["split", c.split || "holdout"]]),
    h("section", {}, h("h3", {}, "Input"), h("pre", {class: "case-input"}, input)),
    h(columns, {}, data.routes.map((route) =>
      h("section", {class: "route-column", "data-route": route.name},
        h("h3", {}, route.name, h("span", {class: "muted"}, ` ${route.kind || ""}`)),
        h("p", {class: "muted"}, h("code", {}, route.model || "?"), route.ran_as && route.ran_as !== route.model ? ` ran as ${route.ran_as}` : ""),
        route.endpoint ? h("p", {class: "muted"}, "endpoint ", h("code", {}, pretty(route.endpoint))) : null,
        h("p", {}, provenanceOf(route.provenance, "route provenance"),
          route.evidence === false ? h("span", {class: "muted"}, " (not evidence about the configured model)") : null),
        route.answers.length ? route.answers.map((a) => answerBlock(a, data.run.requests_recorded, route.answers.length > 1))
          : h("p", {class: "muted"}, "no answer in this run")))));
}

// -- Diff --------------------------------------------------------------------------------------

async function showDiff(a, b) {
  const data = await load("diff", a, b);
  setCrumbs(link("#/", "Runs"), h("span", {}, `diff ${a} → ${b}`));
  const f = {route: "", all: false, q: ""};
  const routeSel = h("select", {id: "diff-route", onchange: () => { f.route = routeSel.value; apply(); }},
    h("option", {value: ""}, "every route"), data.routes.map((r) => h("option", {value: r}, r)));
  const all = h("input", {type: "checkbox", id: "diff-all", onchange: () => { f.all = all.checked; apply(); }});
  const search = h("input", {type: "search", placeholder: "search cases", oninput: () => { f.q = search.value.toLowerCase(); apply(); }});
  const counts = h("p", {class: "counts", id: "diff-counts"});
  const side = (x) => (x ? [badge(x.status), " ", cellLabel(x)] : h("span", {class: "muted"}, "absent"));
  const body = h("tbody", {});
  const rows = data.cases.map((item) => {
    const tr = h("tr", {"data-case": item.id},
      h("td", {}, link(`#/case/${enc(b)}/${enc(item.id)}`, item.id), h("div", {class: "snippet"}, item.text.slice(0, 120))),
      h("td", {}, item.expected ?? "–"),
      data.routes.map((r) => {
        const cell = item.cells[r];
        return h("td", {"data-route": r, class: `diff ${cell.change}`, "data-change": cell.change},
          side(cell.a), h("span", {class: "arrow"}, " → "), side(cell.b),
          cell.change === "same" ? null : h("div", {class: "change"}, cell.change.replace(/_/g, " ")));
      }));
    body.append(tr);
    return {item, tr};
  });
  const table = h("table", {class: "grid diff"}, h("thead", {}, h("tr", {}, h("th", {}, "case"), h("th", {}, "expected"),
    data.routes.map((r) => h("th", {"data-route": r}, r)))), body);
  function apply() {
    const shownRoutes = f.route ? [f.route] : data.routes;
    let shown = 0;
    for (const {item, tr} of rows) {
      const moved = shownRoutes.some((r) => item.cells[r].change !== "same");
      const text = `${item.id}\n${item.text}`.toLowerCase();
      tr.hidden = !((f.all || moved) && (!f.q || text.includes(f.q)));
      if (!tr.hidden) shown += 1;
    }
    for (const el of table.querySelectorAll("[data-route]")) el.hidden = Boolean(f.route) && el.dataset.route !== f.route;
    counts.replaceChildren(`${shown} of ${rows.length} cases shown · `,
      shownRoutes.map((r) => { const c = data.counts[r]; return `${r}: ${c.fixed} fixed, ${c.broken} broken, ${c.changed} changed label`; }).join("; "));
  }
  const when = (run) => `${run.started_at || run.id} (commit ${shortSha(run.git_commit)})`;
  show(h("h1", {}, `Diff · ${data.a.suite}`),
    data.same_suite ? null : h("p", {class: "warning"}, `these runs are of different suites: ${data.a.suite} and ${data.b.suite}`),
    h("p", {}, "A: ", link(`#/run/${enc(a)}`, when(data.a)), h("br"), "B: ", link(`#/run/${enc(b)}`, when(data.b))),
    h("div", {class: "filters"}, routeSel, h("label", {}, all, " every case (not only those that moved)"), search),
    counts, table);
  apply();
}

// -- routing -----------------------------------------------------------------------------------

async function route() {
  let hash = location.hash.replace(/^#/, "");
  if ((!hash || hash === "/") && BUNDLE && BUNDLE.start) hash = `/run/${enc(BUNDLE.start)}`;
  const parts = hash.split("/").filter((p) => p !== "").map(decodeURIComponent);
  try {
    if (parts[0] === "run" && parts.length === 2) await showGrid(parts[1]);
    else if (parts[0] === "case" && parts.length === 3) await showCase(parts[1], parts[2]);
    else if (parts[0] === "diff" && parts.length === 3) await showDiff(parts[1], parts[2]);
    else await showRuns();
    window.scrollTo(0, 0);
  } catch (error) {
    show(h("h1", {}, "Not found"), h("p", {class: "warning"}, String(error.message || error)), link("#/", "back to the runs"));
  }
  document.body.dataset.ready = location.hash || "#/";
}

// on a case page, the left and right arrow keys step through the cases (not while typing)
document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName)) return;
  const step = {ArrowLeft: "a.previous", ArrowRight: "a.next"}[event.key];
  const target = step && app.querySelector(`.pager ${step}`);
  if (target) location.hash = target.getAttribute("href");
});

window.addEventListener("hashchange", route);
route();
