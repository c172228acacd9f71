// The API, as the dashboard uses it: JSON calls, downloads and event streams under /api/v1,
// each sent with the key the user typed (kept in this tab's session storage only).

const BASE = "/api/v1";
const KEY = "vegafs.key";

export const apiKey = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => (key ? sessionStorage.setItem(KEY, key) : sessionStorage.removeItem(KEY)),
};

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function headers(extra = {}) {
  const key = apiKey.get();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function failure(response) {
  const problem = await response.json().catch(() => ({}));
  if (response.status === 401) {
    problem.detail = `${problem.detail || "unauthorized"}: type an API key in the box above`;
    window.dispatchEvent(new CustomEvent("vegafs:unauthorized"));
  }
  return new ApiError(response.status, problem);
}

export async function call(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(BASE + path, init);
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);

// A file from the API saved by the browser (a plain link could not send the key).
export async function download(path, filename) {
  const response = await fetch(BASE + path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Server-Sent Events read with fetch (EventSource cannot send an Authorization header).
// onEvent(type, data) gets each event's parsed data. With `reconnect`, a stream that ends is
// opened again (the job list); without, only one broken by the network is (a job's stream ends
// once the job has). Returns stop().
export function stream(path, onEvent, { reconnect = false, onError = () => {} } = {}) {
  let stopped = false;
  let controller = null;
  let lastId = null;
  (async () => {
    let delay = 500;
    while (!stopped) {
      controller = new AbortController();
      let ended = false;
      try {
        const extra = lastId ? { "Last-Event-ID": lastId } : {};
        const response = await fetch(BASE + path, {
          headers: headers({ Accept: "text/event-stream", ...extra }),
          signal: controller.signal,
        });
        if (!response.ok) {
          const error = await failure(response);
          onError(error);
          if (response.status !== 429 && response.status < 500) return;
        } else {
          delay = 500;
          await readEvents(response.body, (id, type, data) => {
            if (id) lastId = id;
            onEvent(type, data);
          });
          ended = true;
        }
      } catch (error) {
        if (stopped) return;
        onError(error);
      }
      if (ended && !reconnect) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 8000);
    }
  })();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

async function readEvents(body, emit) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let id = null, type = "message", data = "";
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        if (colon === 0) continue; // a comment (keep-alive)
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") id = text;
        else if (field === "event") type = text;
        else if (field === "data") data += (data ? "\n" : "") + text;
      }
      if (data) emit(id, type, JSON.parse(data));
    }
  }
}
