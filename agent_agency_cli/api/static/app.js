// The web monitor: the task list and a task page, live over the API's server-sent events.
// No build step, no framework. Every change goes through the same API calls as any client.
"use strict";

const API = "/api/v1";
const ICONS = { completed: "✓", running: "●", failed: "✗", cancelled: "⊘", skipped: "↷", paused: "‖",
  awaiting_approval: "?", pending: "◌", waiting_resources: "…", interrupted: "!" };
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("agencyToken");
let stream = null;          // the open SSE reader (aborted on navigation)
let current = null;         // the task shown on the task page
let logOffset = 0;
let logTimer = null;

function takeTokenFromFragment() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    token = decodeURIComponent(m[1]);
    sessionStorage.setItem("agencyToken", token);
    history.replaceState(null, "", location.pathname + "#/");
  }
}

async function api(path, opts = {}) {
  const headers = { Authorization: `Bearer ${token}`, ...(opts.headers || {}) };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, { ...opts, headers, body: opts.body === undefined ? undefined
    : JSON.stringify(opts.body) });
  if (res.status === 401) { signOut("That token was refused; paste the current one."); throw new Error("401"); }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.detail || `HTTP ${res.status}`);
  return data;
}

function openStream(taskId, onEvent) {
  // The seed's TaskMonitor (monitor.js): progress, stored events and the end, resumable.
  return new TaskMonitor(taskId, { token, onStatus: setConn,
    onUnauthorized: () => signOut("That token was refused; paste the current one.") })
    .onProgress((p) => onEvent("progress", p))
    .onEvent((ev) => onEvent(ev.kind, ev))
    .onEnd((end) => onEvent("end", end));
}

function setConn(text) { $("conn").textContent = text; }

// -- views ------------------------------------------------------------------------------------

function show(id) {
  for (const s of ["login", "list-view", "task-view"]) $(s).hidden = s !== id;
}

function signOut(message) {
  sessionStorage.removeItem("agencyToken");
  token = null;
  if (stream) stream.close();
  show("login");
  $("login-error").textContent = message || "";
  $("token-input").focus();
}

function statusSpan(status) {
  const s = document.createElement("span");
  s.className = `status s-${status}`;
  s.textContent = `${ICONS[status] || "◆"} ${status.replace(/_/g, " ")}`;
  return s;
}

function fmtSeconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60), sec = Math.round(s % 60);
  return m < 60 ? `${m}:${String(sec).padStart(2, "0")}` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}`;
}

async function showList() {
  current = null;
  show("list-view");
  document.title = "tasks · agent-agency-cli";
  const page = await api("/tasks?limit=100");
  const body = $("task-rows");
  body.replaceChildren();
  for (const t of page.tasks) body.append(taskRow(t));
  $("no-tasks").hidden = page.tasks.length > 0;
  if (stream) stream.close();
  stream = openStream(null, (kind, data) => {
    if (kind === "task_created") { showList(); return; }
    if (kind !== "progress") return;
    const row = document.querySelector(`tr[data-id="${data.task_id}"]`);
    if (!row) return;
    row.querySelector(".st").replaceChildren(statusSpan(data.status));
    row.querySelector("progress").value = data.percent;
    row.querySelector(".pct").textContent = `${data.steps_done}/${data.steps_total}`;
  });
}

function taskRow(t) {
  const tr = document.createElement("tr");
  tr.dataset.id = t.id;
  const link = document.createElement("a");
  link.href = `#/tasks/${t.id}`;
  link.textContent = t.id;
  link.className = "mono";
  const cells = [link, t.description, statusSpan(t.status), null, t.priority, t.created_at.slice(0, 19).replace("T", " ")];
  cells.forEach((c, i) => {
    const td = document.createElement("td");
    if (i === 1) td.className = "desc";
    if (i === 2) td.className = "st";
    if (i >= 4) td.className = "opt";
    if (i === 3) {
      const p = document.createElement("progress");
      p.max = 100; p.value = t.progress.percent;
      p.setAttribute("aria-label", `progress of ${t.id}`);
      const n = document.createElement("span");
      n.className = "pct muted";
      n.textContent = ` ${t.progress.done}/${t.progress.total}`;
      td.append(p, n);
    } else if (typeof c === "string") td.textContent = c; else td.append(c);
    tr.append(td);
  });
  return tr;
}

async function showTask(id) {
  show("task-view");
  current = id;
  logOffset = 0;
  $("log").textContent = "";
  $("events").replaceChildren();
  $("t-message").textContent = "";
  await refreshTask();
  if (stream) stream.close();
  stream = openStream(current, (kind, data) => {
    if (kind === "progress") { renderProgress(data); refreshTask(); }
    else if (kind === "end") { refreshTask(); }
    else addEvent(data);
    scheduleLog();
  });
  scheduleLog();
}

function renderProgress(p) {
  $("t-status").replaceChildren(statusSpan(p.status));
  $("t-progress").value = p.percent;
  $("t-counts").textContent = `${p.steps_done}/${p.steps_total} steps ${p.percent}%`;
  $("t-elapsed").textContent = `elapsed ${fmtSeconds(p.elapsed)}`;
  $("t-eta").textContent = p.finished ? "" : `ETA ${fmtSeconds(p.eta)}`;
}

// One refresh at a time; a request that arrives meanwhile runs once more after it, so the
// last state the stream announced is always the one shown.
let refreshing = null;
let refreshAgain = false;
async function refreshTask() {
  if (refreshing) { refreshAgain = true; return refreshing; }
  refreshing = (async () => {
    try {
      do {
        refreshAgain = false;
        await loadTask();
      } while (refreshAgain);
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function loadTask() {
  try {
    const t = await api(`/tasks/${encodeURIComponent(current)}`);
    current = t.id;
    document.title = `${t.id} ${t.status} · agent-agency-cli`;
    $("t-id").textContent = t.id;
    $("t-desc").textContent = t.description;
    $("t-mode").textContent = `${t.mode} · ${t.priority}`;
    renderProgress({ status: t.status, percent: t.progress.percent, steps_done: t.progress.done,
      steps_total: t.progress.total, elapsed: t.elapsed, eta: t.eta, finished: t.finished });
    renderSteps(t);
    const ap = t.status === "awaiting_approval" && t.steps.find((s) => s.status === "awaiting_approval");
    const wasHidden = $("approval").hidden;
    $("approval").hidden = !ap;
    if (ap) {
      $("ap-step").textContent = ap.name;
      $("ap-command").textContent = typeof ap.command === "string" ? ap.command : JSON.stringify(ap.command);
      if (wasHidden && !document.activeElement.matches("input")) $("btn-approve").focus();
    }
    $("btn-pause").disabled = t.finished || t.status === "paused";
    $("btn-resume").disabled = !["paused", "escalated"].includes(t.status);
    $("btn-cancel").disabled = t.finished;
  } catch (e) {
    $("t-message").textContent = e.message;
  }
}

function renderSteps(t) {
  const ol = $("steps");
  ol.replaceChildren();
  const critical = new Set((t.plan && t.plan.critical_path) || []);
  for (const s of t.steps) {
    const li = document.createElement("li");
    li.dataset.step = s.name;
    li.dataset.status = s.status;
    li.className = `s-${s.status}`;
    const icon = document.createElement("span");
    icon.className = "icon"; icon.textContent = ICONS[s.status] || "◆";
    icon.setAttribute("aria-hidden", "true");
    const name = document.createElement("span");
    name.className = "mono";
    name.textContent = `${s.name}${critical.has(s.name) ? " ★" : ""}`;
    const right = document.createElement("span");
    right.className = "muted";
    right.textContent = `${s.status.replace(/_/g, " ")} ${s.duration != null ? fmtSeconds(s.duration) : ""}`;
    li.append(icon, name, right);
    if (s.needs.length) {
      const needs = document.createElement("span");
      needs.className = "needs muted";
      needs.textContent = `after ${s.needs.join(", ")}`;
      li.append(needs);
    }
    ol.append(li);
  }
}

function addEvent(ev) {
  const li = document.createElement("li");
  const p = ev.payload || {};
  const who = p.who ? ` by ${p.who}` : "";
  const why = p.reason ? ` (${p.reason})` : "";
  li.textContent = `${(ev.ts || "").slice(11, 19)} ${ev.step ? ev.step + " " : ""}${ev.kind.replace(/_/g, " ")}${who}${why}`;
  $("events").append(li);
  li.scrollIntoView({ block: "nearest" });
}

function scheduleLog() {
  if (logTimer) return;
  logTimer = setTimeout(async () => {
    logTimer = null;
    if (!current) return;
    try {
      const page = await api(`/tasks/${encodeURIComponent(current)}/logs?offset=${logOffset}`);
      const log = $("log");
      const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      for (const l of page.lines) {
        const mark = l.stream === "err" ? "! " : l.stream === "sys" ? "# " : "";
        log.textContent += `[${l.step}] ${mark}${l.text}\n`;
      }
      logOffset = page.next_offset;
      if (atEnd) log.scrollTop = log.scrollHeight;  // follow until the reader scrolls up
    } catch (e) { /* shown by refreshTask */ }
  }, 150);
}

async function act(action, body) {
  if (!current) return;
  $("t-message").textContent = `${action}…`;
  try {
    const res = await api(`/tasks/${encodeURIComponent(current)}/${action}`, { method: "POST", body: body || {} });
    $("t-message").textContent = res.message;
  } catch (e) {
    $("t-message").textContent = e.message;
  }
  refreshTask();
}

function route() {
  if (!token) { show("login"); $("token-input").focus(); return; }
  const m = location.hash.match(/^#\/tasks\/([\w-]+)/);
  (m ? showTask(m[1]) : showList()).catch((e) => { $("t-message").textContent = e.message; });
}

document.addEventListener("DOMContentLoaded", () => {
  takeTokenFromFragment();
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    token = $("token-input").value.trim();
    sessionStorage.setItem("agencyToken", token);
    $("login-error").textContent = "";
    route();
  });
  for (const b of document.querySelectorAll("[data-action]")) {
    b.addEventListener("click", () => act(b.dataset.action));
  }
  $("btn-approve").addEventListener("click", () => act("approve"));
  $("btn-reject").addEventListener("click", () => {
    const reason = $("reject-reason").value.trim();
    if (!reason) { $("t-message").textContent = "give a reason to reject"; $("reject-reason").focus(); return; }
    act("reject", { reason });
  });
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input, textarea") || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape" && current) { location.hash = "#/"; return; }
    if (!current || $("task-view").hidden) return;
    const keys = { p: "btn-pause", r: "btn-resume", c: "btn-cancel", a: "btn-approve" };
    if (keys[e.key] && !$(keys[e.key]).disabled && !(e.key === "a" && $("approval").hidden)) {
      e.preventDefault(); $(keys[e.key]).click();
    } else if (e.key === "x" && !$("approval").hidden) { e.preventDefault(); $("reject-reason").focus(); }
  });
  window.addEventListener("hashchange", () => { takeTokenFromFragment(); route(); });
  route();
});
