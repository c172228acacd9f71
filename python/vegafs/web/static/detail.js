// One job: its state and progress, live from /jobs/<id>/events; once it has finished, its
// summary (pictures for analyze), its result rows a page at a time, and their downloads.

import { download, get, stream } from "./api.js";
import { analysisCharts } from "./charts.js";
import { bytes, clear, count, duration, el, say, time } from "./dom.js";
import { action } from "./jobs.js";

const PAGE = 50;
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

export function showDetail(main, id) {
  const title = el("h1", {}, `Job #${id}`);
  const state = el("div", { class: "state" });
  const summary = el("section", { id: "summary" });
  const results = el("section", { id: "results" });
  main.append(title, state, summary, results);
  let shown = null;
  const stop = stream(`/jobs/${id}/events`, (type, job) => {
    if (type === "deleted") {
      say(`Job ${id} was deleted.`, "info");
      return;
    }
    title.textContent = `Job #${job.id} · ${job.operation}`;
    showState(state, job);
    if (FINISHED.has(job.status) && shown !== job.version) {
      shown = job.version;
      showSummary(summary, job);
      showResults(results, job);
    } else if (!FINISHED.has(job.status)) {
      clear(summary);
      clear(results);
    }
  }, { onError: (e) => say(`Job ${id}: ${e.message}`) });
  return stop;
}

function showState(node, job) {
  const p = job.progress || {};
  const running = job.status === "running";
  // A known total: a sharded job's shards, a plan's steps while it is applied; a walk's
  // expected entries (what its last run met) stand in for one.
  const [done, total] = p.shards ? [p.shards_done, p.shards]
    : p.steps ? [p.steps_done, p.steps] : [p.entries, p.entries_expected];
  const bar = el("progress", { id: "progress", max: total || 1 });
  if (total) bar.value = Math.min(done || 0, total);
  else if (!running) bar.value = FINISHED.has(job.status) ? 1 : 0;
  // (no value while running with no known total: the browser shows it as under way)
  const unknown = p.entries_expected ? "unknown (more entries than its last run met)"
    : "unknown (a walk has no total before its first run)";
  const eta = p.eta_s != null ? duration(p.eta_s) : running ? unknown : "–";
  const buttons = el("span", { class: "actions" });
  if (!FINISHED.has(job.status)) {
    buttons.append(action("Cancel", `/jobs/${job.id}/cancel`, job.cancel_requested));
  } else if (job.status !== "succeeded") {
    buttons.append(action("Retry", `/jobs/${job.id}/retry`, false));
  }
  clear(node).append(...[
    el("p", {},
      el("span", { id: "job-status", class: `status ${job.status}`, "data-status": job.status },
        job.cancel_requested && running ? "cancelling" : job.status),
      " ", buttons),
    bar,
    el("dl", { class: "figures" },
      figure("Entries", count(p.entries || 0)),
      figure("Directories", count(p.dirs || 0)),
      figure("Bytes", bytes(p.bytes || 0)),
      figure("Rate", `${count(Math.round(p.rate_per_s || 0))} entries/s`),
      figure("Elapsed", duration(p.elapsed_s)),
      p.shards ? figure("Shards", `${p.shards_done || 0} of ${p.shards} done`) : null,
      p.steps ? figure("Steps applied", `${count(p.steps_done || 0)} of ${count(p.steps)}`) : null,
      figure("ETA", eta),
      figure("Attempts", `${job.attempts} of ${job.max_attempts}`),
      figure("Created", time(job.created_at)),
      figure("Finished", time(job.finished_at))),
    job.error ? el("pre", { class: "error" }, JSON.stringify(job.error, null, 2)) : null,
    el("details", {}, el("summary", {}, "Params"),
      el("pre", {}, JSON.stringify(job.params, null, 2))),
  ].filter(Boolean));
}

const figure = (name, value) => el("div", {}, el("dt", {}, name), el("dd", {}, value));

function showSummary(node, job) {
  clear(node);
  if (!job.summary) return;
  node.append(el("h2", {}, "Summary"));
  const scalars = Object.entries(job.summary).filter(([, v]) => v === null || typeof v !== "object");
  node.append(el("dl", { class: "figures" },
    scalars.map(([k, v]) => figure(k.replaceAll("_", " "), scalar(k, v)))));
  if (job.operation === "analyze") node.append(analysisCharts(job.summary));
  else {
    node.append(el("details", {}, el("summary", {}, "Whole summary (JSON)"),
      el("pre", {}, JSON.stringify(job.summary, null, 2))));
  }
}

function scalar(name, value) {
  if (typeof value !== "number") return String(value);
  if (name.endsWith("bytes")) return bytes(value);
  if (name.endsWith("_s")) return duration(value);
  return Number.isInteger(value) ? count(value) : value.toFixed(3);
}

function showResults(node, job) {
  clear(node);
  node.append(el("h2", {}, `Results (${count(job.result_rows || 0)} rows)`));
  if (!job.result_rows) return;
  const base = `/jobs/${job.id}/results`;
  node.append(el("p", { class: "downloads" },
    ["ndjson", "csv"].map((format) => {
      const button = el("button", { type: "button", id: `download-${format}` },
        `Download ${format.toUpperCase()}`);
      button.addEventListener("click", () =>
        download(`${base}?format=${format}`, `job-${job.id}-results.${format}`).catch(
          (e) => say(`Download: ${e.message}`)));
      return button;
    })));
  const table = el("table", { class: "results", id: "results-table" });
  const back = el("button", { type: "button", id: "page-prev" }, "Previous");
  const next = el("button", { type: "button", id: "page-next" }, "Next");
  const where = el("span", { id: "page-number" });
  node.append(table, el("p", { class: "pager" }, back, " ", where, " ", next));
  const cursors = [null]; // cursors[i]: where page i starts
  let page = 0;
  let nextCursor = null;
  const load = async () => {
    const cursor = cursors[page];
    try {
      const data = await get(`${base}?limit=${PAGE}${cursor ? `&cursor=${cursor}` : ""}`);
      nextCursor = data.next_cursor;
      fillTable(table, data.items.map((r) => r.data));
      where.textContent = `page ${page + 1}`;
      back.disabled = page === 0;
      next.disabled = !nextCursor;
    } catch (e) {
      say(`Results: ${e.message}`);
    }
  };
  back.addEventListener("click", () => { page -= 1; load(); });
  next.addEventListener("click", () => {
    page += 1;
    cursors[page] = nextCursor;
    load();
  });
  load();
}

function fillTable(table, rows) {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  clear(table).append(
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((r) => el("tr", {}, columns.map((c) => {
      const v = r[c];
      return el("td", {}, v !== null && typeof v === "object" ? JSON.stringify(v) : v ?? "");
    })))));
}
