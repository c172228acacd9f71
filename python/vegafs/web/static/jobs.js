// The job list, live: the page of GET /jobs for the chosen filters, replaced whenever the
// server's /job-events stream sends it again; cancel and retry buttons on each row.

import { get, post, stream } from "./api.js";
import { clear, count, el, say, time } from "./dom.js";

const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"];

export function showJobs(main) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const status = el("select", { id: "filter-status", "aria-label": "status" },
    el("option", { value: "" }, "any status"),
    STATUSES.map((s) => el("option", { value: s, selected: s === params.get("status") }, s)));
  const operation = el("select", { id: "filter-operation", "aria-label": "operation" },
    el("option", { value: "" }, "any operation"));
  const body = el("tbody", { id: "jobs" });
  const table = el("table", { class: "jobs" },
    el("thead", {}, el("tr", {},
      ["Job", "Operation", "Status", "Progress", "Owner", "Created", ""].map((t) => el("th", {}, t)))),
    body);
  main.append(el("h1", {}, "Jobs"),
    el("p", { class: "filters" }, status, " ", operation, " ",
      el("a", { class: "button", href: "#/submit" }, "Submit a job")),
    table);

  let stop = () => {};
  const listen = () => {
    stop();
    const query = new URLSearchParams();
    if (status.value) query.append("status", status.value);
    if (operation.value) query.set("operation", operation.value);
    stop = stream(`/job-events?${query}`, (type, data) => {
      if (type === "jobs") render(body, data.items);
    }, { reconnect: true, onError: (e) => say(`The job list: ${e.message}`) });
  };
  const filtered = () => {
    const query = new URLSearchParams();
    if (status.value) query.set("status", status.value);
    if (operation.value) query.set("operation", operation.value);
    history.replaceState(null, "", `#/jobs${query.size ? "?" + query : ""}`);
    listen();
  };
  status.addEventListener("change", filtered);
  operation.addEventListener("change", filtered);
  get("/operations").then((ops) => {
    for (const op of ops) {
      operation.append(el("option", { value: op.name, selected: op.name === params.get("operation") },
        op.name));
    }
    listen();
  }, (e) => say(`Operations: ${e.message}`));
  return () => stop();
}

function render(body, jobs) {
  clear(body);
  if (!jobs.length) body.append(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No jobs.")));
  for (const job of jobs) body.append(row(job));
}

export function progressText(job) {
  const p = job.progress;
  if (!p) return "";
  return `${count(p.entries)} entries · ${count(Math.round(p.rate_per_s || 0))}/s`;
}

function row(job) {
  const actions = el("td", { class: "actions" });
  if (job.status === "queued" || job.status === "running") {
    actions.append(action("Cancel", `/jobs/${job.id}/cancel`, job.cancel_requested));
  } else if (job.status === "failed" || job.status === "cancelled") {
    actions.append(action("Retry", `/jobs/${job.id}/retry`, false));
  }
  return el("tr", { "data-job-id": job.id, "data-status": job.status },
    el("td", {}, el("a", { href: `#/jobs/${job.id}` }, `#${job.id}`)),
    el("td", {}, job.operation),
    el("td", {}, el("span", { class: `status ${job.status}` },
      job.cancel_requested && job.status === "running" ? "cancelling" : job.status)),
    el("td", { class: "num" }, progressText(job)),
    el("td", {}, job.owner),
    el("td", {}, time(job.created_at)),
    actions);
}

export function action(label, path, disabled) {
  const button = el("button", { type: "button", class: label.toLowerCase(), disabled }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await post(path);
    } catch (e) {
      say(`${label}: ${e.message}`);
      button.disabled = false;
    }
  });
  return button;
}
