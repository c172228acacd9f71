// The dashboard's shell: the API key form, the notice line, and the views by URL hash:
// #/jobs (the list), #/jobs/<id> (one job), #/submit/<operation> (the form).

import { apiKey } from "./api.js";
import { showDetail } from "./detail.js";
import { say } from "./dom.js";
import { showForm } from "./form.js";
import { showJobs } from "./jobs.js";

const main = document.getElementById("main");
let leave = () => {};

function route() {
  leave();
  say("");
  main.replaceChildren();
  const [view, arg] = location.hash.replace(/^#\/?/, "").split("/");
  if (view === "jobs" && arg) leave = showDetail(main, Number(arg));
  else if (view === "submit") leave = showForm(main, arg ? decodeURIComponent(arg) : null);
  else leave = showJobs(main);
  leave = leave || (() => {});
}

const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("key-input");
keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey.set(keyInput.value.trim());
  keyInput.value = "";
  keyInput.placeholder = apiKey.get() ? "key in use (this tab)" : keyInput.placeholder;
  route();
});
document.getElementById("key-forget").addEventListener("click", () => {
  apiKey.set(null);
  route();
});
if (apiKey.get()) keyInput.placeholder = "key in use (this tab)";
window.addEventListener("vegafs:unauthorized", () => keyInput.focus());
window.addEventListener("hashchange", route);
route();
