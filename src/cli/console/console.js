// The operator console's page: asks /api/campaigns every two seconds and draws what it says, and
// lets a person enter the results of experiments waiting for them (with the console's key).
// Every text from a campaign (names, params, errors) goes in through textContent, never as HTML:
// a campaign file or an instrument cannot put markup or script into this page.
"use strict";

const REFRESH_MS = 2000;  // between the end of one refresh and the start of the next
const KEY_STORE = "labloop-console-key", NAME_STORE = "labloop-console-name";
let selected = null;  // index of the campaign shown in detail, from the address's #campaign-N
let plotVersion = "";
let tableSignature = "";  // what the experiments table was last drawn from
const MOST_PARAMETER_COLUMNS = 50;  // settings drawn as columns of the experiments table; the rest are left out, saying so
let takesEntries = false;  // the console was started without --read-only
let pageKey = null;  // the console's key when this browser keeps no storage

// The address the console prints ends in #key=…: the key is kept in this browser (never sent in
// an address, so it stays out of logs and history) and taken off the address bar.
function takeKeyFromAddress() {
  const m = /^#key=([0-9a-f]{32})$/.exec(window.location.hash);
  if (!m) return;
  pageKey = m[1];
  try { localStorage.setItem(KEY_STORE, m[1]); } catch (e) { /* kept for this page only */ }
  history.replaceState(null, "", window.location.pathname + window.location.search);
}

function consoleKey() {
  try { return localStorage.getItem(KEY_STORE) || pageKey; } catch (e) { return pageKey; }
}

// Text as the command line shows it (printable() in src/core/printable.cpp): control characters
// as \x1b or \u0085, the bidirectional controls and marks (U+202A–U+202E, U+2066–U+2069, U+200E,
// U+200F, U+061C), the line and paragraph separators and the characters nobody sees (U+200B,
// U+2060–U+2064, U+FEFF, the soft hyphen) as \u202e, a tab as a space, a line break as \n unless
// `keepLineBreaks` (a message of several lines). A unit "[\u202egm]" drawn raw read "[mg]"; a
// name with a zero-width space in it reads as another name.
function printable(text, keepLineBreaks = false) {
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g, (c) => {
    if (c === "\t") return " ";
    if (c === "\n") return keepLineBreaks ? c : "\\n";
    const code = c.charCodeAt(0);
    return code < 0x20 || code === 0x7f ? "\\x" + code.toString(16).padStart(2, "0") : "\\u" + code.toString(16).padStart(4, "0");
  });
}

// Every text the page draws goes through here, printable: a campaign's names, units, settings,
// errors and notes (the console's own messages of several lines keep their line breaks).
function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = printable(text, true);
  return e;
}

// What `labloop status` says before anything else about a campaign: a dry run (no result is a
// measurement), a note a person must settle (a journal copy beside it), bookkeeping problems.
function warnings(o) {
  const lines = [];
  if (o.dry_run) lines.push("dry run: every instrument was a stand-in; no result is a measurement");
  for (const note of o.notes || []) lines.push("note: " + note);
  if (Array.isArray(o.problems) && o.problems.length > 0)
    lines.push("the journal has " + o.problems.length + " bookkeeping problem" + (o.problems.length === 1 ? "" : "s") +
               ": labloop verify names them");
  return lines;
}

// An object's own value under a name a driver or a file chose: "constructor" or "toString" is a
// name like any other, not the object's inherited function.
function own(object, name) {
  return object && Object.prototype.hasOwnProperty.call(object, name) ? object[name] : undefined;
}

// A campaign's phase with the journal's words for it. A pause's and an error's words begin with
// their phase ("paused: …", "error: …"), which is not said twice.
function phaseText(o, open, close = "") {
  if (!o.finish_reason) return o.phase;
  if (o.finish_reason.startsWith(o.phase + ":")) return o.finish_reason;
  return o.phase + open + o.finish_reason + close;
}

// An integer the JSON wrote that a JavaScript number cannot hold exactly (past 2^53): kept as the
// text it was written as, so it is shown as results.csv shows it.
class ExactInteger {
  constructor(text) { this.text = text; }
  valueOf() { return Number(this.text); }
  toString() { return this.text; }
}

// JSON as the console sent it, integers past 2^53 kept whole (JSON.parse's source text).
function parseJson(text) {
  return JSON.parse(text, (key, value, context) => {
    if (typeof value === "number" && !Number.isSafeInteger(value) && context && typeof context.source === "string" &&
        /^-?[0-9]+$/.test(context.source)) return new ExactInteger(context.source);
    return value;
  });
}

// A number as results.csv writes it (fmt's "{}": the shortest text that reads back as the same
// double; exponent form below 1e-4 and from 1e16 on, "1e-05", "1.2345678901234567e+19"; "-0"),
// integers the JSON wrote in full as they were written.
function number(v) {
  if (v instanceof ExactInteger) return v.text;
  if (typeof v !== "number") return v === undefined || v === null ? "" : String(v);
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "nan" : v > 0 ? "inf" : "-inf";
  const sign = v < 0 || Object.is(v, -0) ? "-" : "";
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(Math.abs(v).toExponential());
  const digits = m[1] + (m[2] || ""), exp = Number(m[3]);
  if (exp < -4 || exp >= 16) {
    const e = String(Math.abs(exp)).padStart(2, "0");
    return sign + digits[0] + (digits.length > 1 ? "." + digits.slice(1) : "") + "e" + (exp < 0 ? "-" : "+") + e;
  }
  if (exp < 0) return sign + "0." + "0".repeat(-exp - 1) + digits;
  if (digits.length <= exp + 1) return sign + digits + "0".repeat(exp + 1 - digits.length);
  return sign + digits.slice(0, exp + 1) + "." + digits.slice(exp + 1);
}

// A word a POSIX shell reads as itself, as `labloop pending` prints it: as it is when it holds no
// character a shell treats specially, else in single quotes with each ' written '\''.
function shellWord(s) {
  s = String(s);
  if (/^[A-Za-z0-9@%+=:,.\/_-]+$/.test(s)) return s;
  return "'" + s.replace(/'/g, "'\\''") + "'";
}

function settings(params) {
  if (!params || typeof params !== "object") return "";
  return Object.keys(params).map((k) => k + " = " + number(params[k])).join(", ");
}

function selectedFromAddress() {
  const m = /^#campaign-(\d+)$/.exec(window.location.hash);
  return m ? Number(m[1]) : null;
}

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  const body = parseJson(await response.text());
  if (!response.ok) throw new Error(body && body.error ? body.error : response.status + " " + response.statusText);
  return body;
}

// An action (enter, stop): JSON with the console's key; the answer's JSON, or {} when the HTTP
// server refused it with an empty body.
async function postJson(path, request) {
  const response = await fetch(path, {
    method: "POST",
    cache: "no-store",
    headers: { "Content-Type": "application/json", "X-Labloop-Key": consoleKey() || "" },
    body: JSON.stringify(request),
  });
  let answer = {};
  try { answer = await response.json(); } catch (e) { /* no JSON body */ }
  return [response, answer];
}

function card(entry) {
  const li = element("li", "campaign" + (entry.index === selected ? " selected" : ""));
  li.dataset.index = entry.index;
  li.tabIndex = 0;
  const open = () => { window.location.hash = "#campaign-" + entry.index; };
  li.addEventListener("click", open);
  li.addEventListener("keydown", (e) => { if (e.key === "Enter") open(); });
  if (entry.error !== undefined) {
    li.appendChild(element("h2", null, entry.folder));
    li.appendChild(element("div", "error", entry.error));
    return li;
  }
  const o = entry.overview;
  const title = element("h2", null, o.campaign + " ");
  title.appendChild(element("span", "phase " + o.phase, phaseText(o, ": ")));
  li.appendChild(title);
  if (o.stop_request) li.appendChild(element("div", "asked", (o.phase === "running" ? "stopping: " : "") + "asked from the " +
                                                                 (o.stop_request.source || "unknown") + " by " + (o.stop_request.by || "someone unnamed") +
                                                                 (o.stop_request.reason ? ": " + o.stop_request.reason : "")));
  li.appendChild(element("div", "folder", entry.folder));
  for (const line of warnings(o)) li.appendChild(element("div", "trouble", line));
  const bar = element("div", "bar");
  const fill = element("div");
  fill.style.width = (o.budget > 0 ? Math.min(100, (100 * o.used) / o.budget) : 0) + "%";
  bar.appendChild(fill);
  li.appendChild(bar);
  li.appendChild(element("div", "used", o.used + " of " + o.budget + " experiments used: " + o.results + " results, " + o.failed +
                                          " failed, " + o.open.length + " open"));
  // An instrument in trouble shows on the card, so a wall of campaigns says where to look.
  if (o.phase === "running")
    for (const i of o.instruments || [])
      if (i.state === "lost" || i.state === "quarantined")
        li.appendChild(element("div", "trouble", i.name + " " + i.state + " since " + i.since + (i.detail ? ": " + i.detail : "")));
      else if (i.state === "ready" && i.detail)  // answers, but every run is rejected as busy
        li.appendChild(element("div", "trouble", i.name + ": " + i.detail));
  if (o.best) {
    li.appendChild(element("div", "best", "best " + o.objective + " = " + number(o.best.value) + " (" + o.goal + ") at " + o.best.experiment));
  } else if (Array.isArray(o.pareto)) {
    li.appendChild(element("div", "best", "Pareto set: " + o.pareto.length + " result" + (o.pareto.length === 1 ? "" : "s")));
  }
  return li;
}

function fillTable(table, headings, rows) {
  const head = table.tHead, body = table.tBodies[0];
  head.replaceChildren();
  body.replaceChildren();
  const tr = element("tr");
  for (const h of headings) tr.appendChild(element("th", null, h));
  head.appendChild(tr);
  for (const row of rows) body.appendChild(row);
}

function experimentRows(data, parameters, bestId) {
  const rows = [];
  for (const x of data.experiments.slice().reverse()) {  // newest first
    const tr = element("tr", x.status + (x.experiment === bestId ? " best" : ""));
    tr.dataset.experiment = x.experiment;
    tr.appendChild(element("td", null, x.experiment));
    tr.appendChild(element("td", null, x.status));
    tr.appendChild(element("td", null, x.instrument || ""));
    for (const p of parameters) tr.appendChild(element("td", "number", number(own(x.params, p.name))));
    tr.appendChild(element("td", "number", number(x.objective)));
    for (const out of data.outputs) tr.appendChild(element("td", "number", number(own(x.values, out.name))));
    tr.appendChild(element("td", null, x.error || x.finished_at || ""));
    rows.push(tr);
  }
  return rows;
}

function withUnit(name, unit) { return unit ? printable(name) + " [" + printable(unit) + "]" : printable(name); }

async function showDetail(entry) {
  const detail = document.getElementById("detail");
  if (!entry || entry.error !== undefined) {
    detail.hidden = true;
    document.getElementById("waiting-forms").replaceChildren();
    return;
  }
  const o = entry.overview;
  const data = await getJson("/api/campaigns/" + entry.index + "/experiments");
  detail.hidden = false;
  document.getElementById("detail-title").textContent = printable(o.campaign);
  document.getElementById("detail-summary").textContent =
      printable((o.dry_run ? "dry run (every instrument a stand-in, no result measured): " : "") + phaseText(o, " (", ")") + "; started " +
                o.started_at + "; last event " + o.last_event_at);
  // The plot is fetched again only when the journal has moved.
  const version = entry.index + "-" + o.last_event_at + "-" + o.used;
  if (version !== plotVersion) {
    plotVersion = version;
    const query = "?v=" + encodeURIComponent(version);
    document.getElementById("convergence").src = "/api/campaigns/" + entry.index + "/convergence.svg" + query;
    // Several objectives: their front too.
    const pareto = document.getElementById("pareto");
    pareto.hidden = !Array.isArray(o.pareto);
    if (Array.isArray(o.pareto)) pareto.src = "/api/campaigns/" + entry.index + "/pareto.svg" + query;
    else pareto.removeAttribute("src");
  }
  // Who is acting: asked of anyone who may act here (enter results, stop a campaign).
  document.getElementById("entry-by-label").hidden = !(takesEntries && consoleKey() && (o.phase === "running" || o.open.some((e) => e.manual)));
  showStop(entry);
  await showWaiting(entry);
  document.getElementById("instruments-title").textContent =
      o.phase === "running" ? "Instruments" : "Instruments (as last known: the campaign is not running, none is connected)";
  fillTable(document.getElementById("instruments"), ["instrument", "state", "driver", "running", "since", "detail"],
            (o.instruments || []).map((i) => {
              const tr = element("tr", "instrument " + i.state);
              tr.appendChild(element("td", null, i.name));
              tr.appendChild(element("td", null, i.manual ? "a person" : i.state));
              tr.appendChild(element("td", null, i.driver ? i.driver + " " + i.version : ""));
              tr.appendChild(element("td", "number", i.capacity ? i.running + " of " + i.capacity : String(i.running)));
              tr.appendChild(element("td", null, i.since || ""));
              tr.appendChild(element("td", null, i.detail || ""));
              return tr;
            }));
  fillTable(document.getElementById("open"), ["experiment", "where", "since", "settings"],
            o.open.map((e) => {
              const tr = element("tr");
              tr.appendChild(element("td", null, e.experiment));
              tr.appendChild(element("td", null, e.instrument ? e.instrument + (e.manual ? " (a person)" : "") : "waiting to be sent"));
              tr.appendChild(element("td", null, e.since));
              tr.appendChild(element("td", null, settings(e.params)));
              return tr;
            }));
  // A wide campaign: its first MOST_PARAMETER_COLUMNS settings get a column each (results.csv
  // has every one), and the console sends fewer rows (at most most_values values).
  const parameters = data.parameters.slice(0, MOST_PARAMETER_COLUMNS);
  const left = [];
  if (data.omitted) left.push("and " + data.omitted + " earlier not shown" +
                              (data.experiments.length < data.most_experiments ? " (the console sends at most " + data.most_values + " values)" : ""));
  if (parameters.length < data.parameters.length)
    left.push("settings of the first " + parameters.length + " of " + data.parameters.length + " parameters shown; results.csv has all");
  document.getElementById("experiments-title").textContent =
      "Experiments (" + data.experiments.length + (left.length ? ", " + left.join("; ") : "") + ")";
  // Drawn again only when what it shows has changed: a table of a thousand rows of hundreds of
  // columns, rebuilt at every refresh, held the page (every campaign's) for seconds each time.
  // `version` is the console's reading of the journal: another as soon as the journal moves.
  const bestId = o.best ? o.best.experiment : null;
  const last = data.experiments.length ? data.experiments[data.experiments.length - 1] : null;
  const signature = JSON.stringify([entry.index, data.version, data.experiments.length, data.omitted, last && last.experiment, last && last.status, bestId]);
  if (signature === tableSignature) return;
  const headings = ["experiment", "status", "instrument"]
      .concat(parameters.map((p) => withUnit(p.name, p.unit)))
      .concat([withUnit(data.objective.name, data.objective.unit)])
      .concat(data.outputs.map((p) => withUnit(p.name, p.unit)))
      .concat(["finished / error"]);
  fillTable(document.getElementById("experiments"), headings, experimentRows(data, parameters, bestId));
  tableSignature = signature;
}

// ---- Stopping a campaign ----------------------------------------------------------------------
// As a first Ctrl-C in its terminal: no new experiments, running ones get the stop grace period, a
// person's stay open. Two steps (the button, then "Yes, stop it"), and the reason goes to the journal.

let stopCampaign = null;  // the campaign the stop panel is for

function showStop(entry) {
  const o = entry.overview;
  const panel = document.getElementById("stop-panel");
  if (stopCampaign !== entry.index) {
    stopCampaign = entry.index;
    document.getElementById("stop-confirm").hidden = true;
    document.getElementById("stop-open").hidden = false;
    document.getElementById("stop-status").textContent = "";
  }
  panel.hidden = !(o.phase === "running" && takesEntries && consoleKey());
  if (o.phase === "running" && o.stop_request) {
    document.getElementById("stop-open").hidden = true;
    document.getElementById("stop-confirm").hidden = true;
    document.getElementById("stop-status").textContent =
        printable("stopping: asked from the " + o.stop_request.source + " by " + o.stop_request.by + (o.stop_request.reason ? " (" + o.stop_request.reason + ")" : ""));
  }
}

async function askStop() {
  const status = document.getElementById("stop-status");
  const yes = document.getElementById("stop-yes");
  const request = { reason: document.getElementById("stop-reason").value.trim() };
  const by = document.getElementById("entry-by").value.trim();
  if (by) request.by = by;
  yes.disabled = true;
  status.textContent = "asking…";
  status.className = "entry-status";
  try {
    const [response, answer] = await postJson("/api/campaigns/" + stopCampaign + "/stop", request);
    status.textContent = printable(response.ok ? answer.message : (answer.error || response.status + " " + response.statusText), true);
    status.className = "entry-status " + (response.ok ? "saved" : "refused");
    if (response.ok) document.getElementById("stop-confirm").hidden = true;
    loop();
  } catch (e) {
    status.textContent = "not asked: " + e.message + " (is labloop console still running?)";
    status.className = "entry-status refused";
  } finally {
    yes.disabled = false;
  }
}

// ---- Results a person enters -------------------------------------------------------------------
// A form per experiment waiting for a person, kept across refreshes (what is typed stays while the
// page redraws the rest); the console checks each entry exactly as `labloop enter` does and says why
// it refuses one.

let waitingCampaign = null;  // the campaign whose forms are drawn

async function showWaiting(entry) {
  const section = document.getElementById("waiting");
  const forms = document.getElementById("waiting-forms");
  if (waitingCampaign !== entry.index) {
    forms.replaceChildren();
    document.getElementById("entered-log").replaceChildren();
    waitingCampaign = entry.index;
  }
  if (!entry.overview.open.some((e) => e.manual)) {
    forms.replaceChildren();
    section.hidden = document.getElementById("entered-log").children.length === 0;
    return;
  }
  const data = await getJson("/api/campaigns/" + entry.index + "/pending");
  section.hidden = false;
  const canEnter = data.entries === true && !!consoleKey();
  document.getElementById("waiting-note").textContent =
      !data.entries ? "This console only shows (it was started --read-only): enter results with the commands below."
      : !canEnter ? "To enter results here, open the address labloop console printed when it started (it ends in #key=…); or use the commands below."
      : "Enter each result as measured; the console checks it as labloop enter does." +
            (data.running ? "" : " The campaign is not running: it records them when it resumes.");
  // A form stays where it is, never taken out and put back: that would take the focus (and the
  // keys typed next) from the field a person is typing in. Forms of experiments no longer waiting
  // go; new ones are put in proposal order before the next form that stays.
  const waiting = new Set(data.pending.map((p) => p.experiment));
  for (const form of [...forms.children])
    if (!waiting.has(form.dataset.experiment) || form.dataset.canEnter !== String(canEnter)) form.remove();
  const kept = new Map();
  for (const form of forms.children) kept.set(form.dataset.experiment, form);
  let next = forms.firstElementChild;
  for (const p of data.pending) {
    let form = kept.get(p.experiment);
    if (form) {
      next = form.nextElementSibling;
    } else {
      form = entryForm(entry, p, data.outputs, canEnter);
      forms.insertBefore(form, next);
    }
    updateEntryForm(form, p);
  }
}

function entryForm(entry, p, outputs, canEnter) {
  const form = element("form", "entry");
  form.dataset.experiment = p.experiment;
  form.dataset.canEnter = String(canEnter);
  form.noValidate = true;
  form.appendChild(element("h4", null, p.experiment + " on " + p.instrument + ", since " + p.since));
  form.appendChild(element("div", "settings", settings(p.params)));
  const body = element("div", "entry-body");
  if (canEnter) {
    for (const out of outputs) {
      const label = element("label", null, withUnit(out.name, out.unit) + (out.required ? " (required)" : ""));
      const input = element("input");
      input.type = "text";  // as typed: the console reads the number, as labloop enter does
      input.inputMode = "decimal";
      input.autocomplete = "off";
      input.dataset.output = out.name;
      if (out.low !== undefined || out.high !== undefined)
        input.placeholder = (out.low !== undefined ? number(out.low) : "") + " to " + (out.high !== undefined ? number(out.high) : "");
      label.appendChild(input);
      body.appendChild(label);
    }
    const actions = element("div", "actions");
    const enter = element("button", "enter", "Enter result");
    enter.type = "submit";
    const reasonLabel = element("label", null, "or, if it failed, why");
    const reason = element("input");
    reason.dataset.failed = "reason";
    // No maxlength: a paste past it was cut silently and the shortened text saved. The server
    // refuses what is too long, and that message shows.
    reasonLabel.appendChild(reason);
    const fail = element("button", "fail", "Enter as failed");
    fail.type = "button";
    actions.append(enter, reasonLabel, fail);
    body.appendChild(actions);
    form.addEventListener("submit", (e) => { e.preventDefault(); submitEntry(entry.index, form, false); });
    fail.addEventListener("click", () => submitEntry(entry.index, form, true));
  } else {
    const fields = outputs.map((o) => (o.required ? shellWord(o.name + "=VALUE") : "[" + shellWord(o.name + "=VALUE") + "]"));
    body.appendChild(element("code", "command", "labloop enter " + shellWord(entry.folder) + " " + shellWord(p.experiment) + " " + fields.join(" ")));
  }
  form.appendChild(body);
  const status = element("div", "entry-status");
  status.setAttribute("role", "status");
  form.appendChild(status);
  return form;
}

// What the console says of an experiment's entry: saved and waiting for the campaign, or a file
// it cannot record. Typed values are left as they are.
function updateEntryForm(form, p) {
  const body = form.querySelector(".entry-body");
  const status = form.querySelector(".entry-status");
  let note = null;
  if (p.entered) note = "entered by " + p.entered.by + " at " + p.entered.at + "; waiting for the campaign to record it";
  else if (p.unreadable) note = "its entry cannot be recorded: " + p.unreadable + "\nfix or delete that file, then enter again";
  if (note !== null) {
    body.hidden = true;
    status.textContent = printable(note, true);
    status.className = "entry-status" + (p.unreadable ? " refused" : " saved");
    form.dataset.note = "1";
  } else if (form.dataset.note === "1") {  // the file was deleted: it may be entered again
    body.hidden = false;
    status.textContent = "";
    status.className = "entry-status";
    form.dataset.note = "";
  }
}

async function submitEntry(index, form, failed) {
  const status = form.querySelector(".entry-status");
  const say = (text, kind) => { status.textContent = printable(text, true); status.className = "entry-status" + (kind ? " " + kind : ""); };
  const request = { experiment: form.dataset.experiment };
  const by = document.getElementById("entry-by").value.trim();
  if (by) request.by = by;
  if (failed) {
    const reason = form.querySelector("[data-failed]").value.trim();
    if (!reason) return say("say why it failed", "refused");
    request.failed = reason;
  } else {
    request.values = Object.create(null);  // an output named "__proto__" is set like any other
    for (const input of form.querySelectorAll("input[data-output]"))
      if (input.value.trim() !== "") request.values[input.dataset.output] = input.value.trim();
  }
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  say("saving…");
  try {
    const [response, answer] = await postJson("/api/campaigns/" + index + "/entries", request);
    if (!response.ok) {
      say(answer.error || response.status + " " + response.statusText, "refused");
      return;
    }
    const what = answer.failed !== undefined ? "failed: " + answer.failed
        : Object.keys(answer.values).map((k) => k + " = " + number(answer.values[k])).join(", ");
    const log = document.getElementById("entered-log");
    log.insertBefore(element("li", null, "entered " + answer.entered + " (" + what + ") by " + answer.by + " at " + answer.at), log.firstChild);
    form.querySelector(".entry-body").hidden = true;
    form.dataset.note = "1";
    say("entered: " + what + ". " + answer.message, "saved");
    loop();
  } catch (e) {
    say("not saved: " + e.message + " (is labloop console still running?)", "refused");
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

async function refresh() {
  const status = document.getElementById("connection");
  try {
    const data = await getJson("/api/campaigns");
    takesEntries = data.entries === true;
    selected = selectedFromAddress();
    if (selected === null && data.campaigns.length > 0) selected = 0;
    // One card that cannot be drawn says so instead of blanking the others.
    const cards = data.campaigns.map((entry) => {
      try {
        return card(entry);
      } catch (e) {
        return card({ index: entry.index, folder: entry.folder, error: "this console cannot show it: " + e.message });
      }
    });
    if (data.not_shown) cards.push(element("li", "note", data.not_shown + " more campaign" + (data.not_shown === 1 ? "" : "s") +
                                                          " not shown: the console shows at most " + data.most_shown));
    document.getElementById("campaigns").replaceChildren(...cards);
    await showDetail(data.campaigns.find((c) => c.index === selected));
    status.textContent = "live, updated " + new Date().toLocaleTimeString();
    status.className = "connection";
  } catch (e) {
    status.textContent = "connection lost: " + e.message + " (is labloop console still running?)";
    status.className = "connection lost";
  }
}

// One refresh at a time: the next is planned when one ends, so a slow answer never overlaps the
// next one (an older answer drawn over a newer one) nor piles requests onto a busy console. A
// click that comes during a refresh is served right after it.
let timer = null, busy = false, again = false;
async function loop() {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  clearTimeout(timer);
  try {
    await refresh();
  } finally {
    busy = false;
  }
  if (again) {
    again = false;
    loop();
    return;
  }
  timer = setTimeout(loop, REFRESH_MS);
}
window.addEventListener("hashchange", () => { takeKeyFromAddress(); loop(); });
takeKeyFromAddress();
document.getElementById("stop-open").addEventListener("click", () => {
  document.getElementById("stop-open").hidden = true;
  document.getElementById("stop-confirm").hidden = false;
  document.getElementById("stop-reason").focus();
});
document.getElementById("stop-cancel").addEventListener("click", () => {
  document.getElementById("stop-confirm").hidden = true;
  document.getElementById("stop-open").hidden = false;
});
document.getElementById("stop-yes").addEventListener("click", askStop);
{
  const by = document.getElementById("entry-by");
  try { by.value = localStorage.getItem(NAME_STORE) || ""; } catch (e) { /* no storage: typed each time */ }
  by.addEventListener("change", () => { try { localStorage.setItem(NAME_STORE, by.value.trim()); } catch (e) { /* as above */ } });
}
loop();
