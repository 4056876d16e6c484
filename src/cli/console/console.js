// The operator console's page: asks /api/campaigns every two seconds and draws what it says.
// Every text from a campaign (names, params, errors) goes in through textContent, never as HTML:
// a campaign file or an instrument cannot put markup or script into this page.
"use strict";

const REFRESH_MS = 2000;  // between the end of one refresh and the start of the next
let selected = null;  // index of the campaign shown in detail, from the address's #campaign-N
let plotVersion = "";

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function number(v) {
  if (typeof v !== "number") return v === undefined || v === null ? "" : String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  return String(Number(v.toPrecision(6)));
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
  const body = await response.json();
  if (!response.ok) throw new Error(body && body.error ? body.error : response.status + " " + response.statusText);
  return body;
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
  title.appendChild(element("span", "phase " + o.phase, o.phase + (o.finish_reason ? ": " + o.finish_reason : "")));
  li.appendChild(title);
  li.appendChild(element("div", "folder", entry.folder));
  const bar = element("div", "bar");
  const fill = element("div");
  fill.style.width = (o.budget > 0 ? Math.min(100, (100 * o.used) / o.budget) : 0) + "%";
  bar.appendChild(fill);
  li.appendChild(bar);
  li.appendChild(element("div", "used", o.used + " of " + o.budget + " experiments used: " + o.results + " results, " + o.failed +
                                          " failed, " + o.open.length + " open"));
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

function experimentRows(data, bestId) {
  const rows = [];
  for (const x of data.experiments.slice().reverse()) {  // newest first
    const tr = element("tr", x.status + (x.experiment === bestId ? " best" : ""));
    tr.dataset.experiment = x.experiment;
    tr.appendChild(element("td", null, x.experiment));
    tr.appendChild(element("td", null, x.status));
    tr.appendChild(element("td", null, x.instrument || ""));
    for (const p of data.parameters) tr.appendChild(element("td", "number", number(x.params ? x.params[p.name] : undefined)));
    tr.appendChild(element("td", "number", number(x.objective)));
    for (const out of data.outputs) tr.appendChild(element("td", "number", number(x.values ? x.values[out.name] : undefined)));
    tr.appendChild(element("td", null, x.error || x.finished_at || ""));
    rows.push(tr);
  }
  return rows;
}

function withUnit(name, unit) { return unit ? name + " [" + unit + "]" : name; }

async function showDetail(entry) {
  const detail = document.getElementById("detail");
  if (!entry || entry.error !== undefined) {
    detail.hidden = true;
    return;
  }
  const o = entry.overview;
  const data = await getJson("/api/campaigns/" + entry.index + "/experiments");
  detail.hidden = false;
  document.getElementById("detail-title").textContent = o.campaign;
  document.getElementById("detail-summary").textContent =
      o.phase + (o.finish_reason ? " (" + o.finish_reason + ")" : "") + "; started " + o.started_at + "; last event " + o.last_event_at;
  // The plot is fetched again only when the journal has moved.
  const version = entry.index + "-" + o.last_event_at + "-" + o.used;
  if (version !== plotVersion) {
    plotVersion = version;
    document.getElementById("convergence").src = "/api/campaigns/" + entry.index + "/convergence.svg?v=" + encodeURIComponent(version);
  }
  fillTable(document.getElementById("open"), ["experiment", "where", "since", "settings"],
            o.open.map((e) => {
              const tr = element("tr");
              tr.appendChild(element("td", null, e.experiment));
              tr.appendChild(element("td", null, e.instrument ? e.instrument + (e.manual ? " (a person)" : "") : "waiting to be sent"));
              tr.appendChild(element("td", null, e.since));
              tr.appendChild(element("td", null, settings(e.params)));
              return tr;
            }));
  document.getElementById("experiments-title").textContent =
      "Experiments (" + data.experiments.length + (data.omitted ? ", and " + data.omitted + " earlier not shown" : "") + ")";
  const headings = ["experiment", "status", "instrument"]
      .concat(data.parameters.map((p) => withUnit(p.name, p.unit)))
      .concat([withUnit(data.objective.name, data.objective.unit)])
      .concat(data.outputs.map((p) => withUnit(p.name, p.unit)))
      .concat(["finished / error"]);
  fillTable(document.getElementById("experiments"), headings, experimentRows(data, o.best ? o.best.experiment : null));
}

async function refresh() {
  const status = document.getElementById("connection");
  try {
    const data = await getJson("/api/campaigns");
    selected = selectedFromAddress();
    if (selected === null && data.campaigns.length > 0) selected = 0;
    // One card that cannot be drawn says so instead of blanking the others.
    document.getElementById("campaigns").replaceChildren(...data.campaigns.map((entry) => {
      try {
        return card(entry);
      } catch (e) {
        return card({ index: entry.index, folder: entry.folder, error: "this console cannot show it: " + e.message });
      }
    }));
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
window.addEventListener("hashchange", loop);
loop();
