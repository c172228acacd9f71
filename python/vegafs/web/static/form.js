// The submit form of an operation, built from the JSON Schema of its params
// (GET /api/v1/operations), so that every operation, a plugin's too, has its form.
// Path fields (format "path") are checked against the caller's roots before the job is sent.

import { get, post } from "./api.js";
import { el, say } from "./dom.js";

export function showForm(main, name) {
  const picker = el("p", { class: "operations" });
  const holder = el("div");
  main.append(el("h1", {}, "Submit a job"), picker, holder);
  get("/operations").then((ops) => {
    for (const op of ops) {
      picker.append(el("a", { href: `#/submit/${encodeURIComponent(op.name)}`,
        class: op.name === name ? "button current" : "button" }, op.name), " ");
    }
    const op = ops.find((o) => o.name === name);
    if (op) holder.append(buildForm(op));
    else holder.append(el("p", {}, "Choose an operation."));
  }, (e) => say(`Operations: ${e.message}`));
}

function buildForm(op) {
  const schema = op.params_schema;
  const fields = [];
  const form = el("form", { class: "submit", id: `form-${op.name}`, novalidate: true },
    el("p", { class: "summary" }, op.summary),
    objectFields(schema, schema, "", fields),
    el("fieldset", { class: "job-options" }, el("legend", {}, "Job"),
      labelled("fresh", "Fresh", el("input", { type: "checkbox", name: "fresh" }),
        "Run it even if a cached result of the same job exists.")),
    el("p", {}, el("button", { type: "submit" }, `Submit ${op.name}`)));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say("");
    const params = {};
    const problems = [];
    for (const field of fields) {
      try {
        const value = field.read();
        if (value !== undefined) setAt(params, field.path, value);
      } catch (e) {
        problems.push(`${field.path}: ${e.message}`);
      }
    }
    const checks = await Promise.all(fields.filter((f) => f.checkPaths).map((f) => f.checkPaths()));
    problems.push(...checks.flat());
    if (problems.length) {
      say(problems.join("; "));
      return;
    }
    try {
      const job = await post("/jobs", { operation: op.name, params,
        fresh: form.elements.fresh.checked });
      location.hash = `#/jobs/${job.id}`;
    } catch (e) {
      const errors = (e.problem.errors || []).map((x) => `${x.field}: ${x.message}`);
      say(errors.length ? errors.join("; ") : e.message);
    }
  });
  return form;
}

function resolve(root, schema) {
  if (schema.$ref) schema = root.$defs[schema.$ref.split("/").pop()];
  if (schema.anyOf) {
    const other = schema.anyOf.filter((s) => s.type !== "null");
    if (other.length === 1) {
      return { ...resolve(root, other[0]), ...pick(schema), nullable: true };
    }
  }
  return schema;
}

const pick = ({ title, description, default: d }) => ({ title, description, default: d });

function objectFields(root, schema, prefix, fields) {
  const required = new Set(schema.required || []);
  const nodes = [];
  for (const [name, raw] of Object.entries(schema.properties || {})) {
    const s = resolve(root, raw);
    const path = prefix ? `${prefix}.${name}` : name;
    if (s.type === "object" && s.properties) {
      nodes.push(el("fieldset", { class: "group" }, el("legend", {}, s.title || name),
        objectFields(root, s, path, fields)));
    } else {
      nodes.push(field(s, path, required.has(name), fields));
    }
  }
  return nodes;
}

// One input for one schema node; pushes {path, read(), checkPaths?()} onto fields.
function field(s, path, required, fields) {
  const id = `f-${path.replaceAll(".", "-")}`;
  const title = (s.title || path) + (required ? " *" : "");
  const d = s.default;
  const items = s.type === "array" ? { ...s.items } : null;
  let input, read;
  if (s.type === "boolean") {
    input = el("input", { id, type: "checkbox", name: path, checked: d === true });
    read = () => (input.checked === (d === true) ? undefined : input.checked);
  } else if (s.enum) {
    input = el("select", { id, name: path },
      required ? null : el("option", { value: "" }, d == null ? "(none)" : `(default: ${d})`),
      s.enum.map((v) => el("option", { value: v }, v)));
    read = () => input.value || undefined;
  } else if (items && items.enum) {
    const boxes = items.enum.map((v) => el("input", { type: "checkbox", value: v,
      checked: (d || []).includes(v) }));
    input = el("span", { id, class: "choices" },
      boxes.map((b) => el("label", {}, b, " ", b.value)));
    read = () => boxes.filter((b) => b.checked).map((b) => b.value);
  } else if (items && items.type === "string") {
    input = el("textarea", { id, name: path, rows: 2, placeholder: "one per line",
      class: items.format === "path" ? "path" : null });
    read = () => {
      const lines = input.value.split("\n").map((l) => l.trim()).filter(Boolean);
      if (!lines.length && required) throw new Error("needs at least one value");
      return lines.length ? lines : undefined;
    };
  } else if (s.type === "integer" || s.type === "number") {
    input = el("input", { id, name: path, type: "number", min: s.minimum, max: s.maximum,
      step: s.type === "integer" ? 1 : "any", placeholder: d == null ? "" : `default: ${d}` });
    read = () => {
      if (input.value === "") {
        if (required) throw new Error("is required");
        return undefined;
      }
      return Number(input.value);
    };
  } else if (s.type === "string") {
    input = el("input", { id, name: path, type: "text", class: s.format === "path" ? "path" : null,
      placeholder: s.format === "date-time" ? "2026-01-31T12:00:00Z" : d == null ? "" : `default: ${d}` });
    read = () => {
      if (input.value === "") {
        if (required) throw new Error("is required");
        return undefined;
      }
      return input.value;
    };
  } else { // anything else (a pipeline's steps): JSON, as the API takes it
    input = el("textarea", { id, name: path, rows: 3, class: "json",
      placeholder: "JSON, e.g. " + JSON.stringify(d ?? []) });
    read = () => {
      if (input.value.trim() === "") {
        if (required) throw new Error("is required");
        return undefined;
      }
      try {
        return JSON.parse(input.value);
      } catch {
        throw new Error("is not valid JSON");
      }
    };
  }
  const entry = { path, read };
  const note = el("span", { class: "check", id: `${id}-check` });
  const isPath = s.format === "path" || (items && items.format === "path");
  if (isPath) {
    // The roots a selection walks must exist; another path (a destination) may be made.
    const mayBeNew = !path.endsWith("selection.roots");
    entry.checkPaths = () => checkPaths(input, note, mayBeNew);
    input.addEventListener("change", entry.checkPaths);
  }
  fields.push(entry);
  return labelled(id, title, input, s.description, note);
}

async function checkPaths(input, note, mayBeNew) {
  const paths = input.value.split("\n").map((l) => l.trim()).filter(Boolean);
  const problems = [];
  for (const path of paths) {
    try {
      await post("/paths/check", { path, new: mayBeNew });
    } catch (e) {
      problems.push(e.message);
    }
  }
  note.textContent = problems.length ? problems.join("; ") : paths.length ? "✓ allowed" : "";
  note.className = problems.length ? "check bad" : "check ok";
  input.setAttribute("aria-invalid", problems.length ? "true" : "false");
  return problems;
}

function labelled(id, title, input, help, note) {
  return el("div", { class: "field" },
    el("label", { for: id }, title), input, note || null,
    help ? el("small", {}, help) : null);
}

function setAt(target, path, value) {
  const names = path.split(".");
  const last = names.pop();
  for (const name of names) target = target[name] ??= {};
  target[last] = value;
}
