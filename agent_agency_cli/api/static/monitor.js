// TaskMonitor: the seed's client for live progress, over the API's server-sent events.
//
//   const monitor = new TaskMonitor(taskId, { token });          // taskId null: every task
//   monitor.onProgress((p) => console.log(`Task ${p.task_id}: ${p.overall_progress * 100}%`));
//   monitor.onEvent((ev) => ...);  monitor.onEnd((end) => ...);  monitor.close();
//
// It reads the stream with fetch (so the token travels in a header, never in a URL) and
// reconnects with Last-Event-ID after a dropped connection, so no stored event is missed.
"use strict";

class TaskMonitor {
  constructor(taskId, { token, base = "/api/v1", retryMs = 1000, onStatus = () => {}, onUnauthorized = () => {} } = {}) {
    this.path = taskId ? `${base}/tasks/${encodeURIComponent(taskId)}/progress` : `${base}/progress`;
    this.token = token;
    this.retryMs = retryMs;
    this.onStatus = onStatus;
    this.onUnauthorized = onUnauthorized;
    this.handlers = { progress: [], event: [], end: [] };
    this.lastEventId = null;
    this.closed = false;
    this.started = false;
    this.controller = null;
  }

  onProgress(cb) { this.handlers.progress.push(cb); return this.start(); }
  onEvent(cb) { this.handlers.event.push(cb); return this.start(); }
  onEnd(cb) { this.handlers.end.push(cb); return this.start(); }

  close() {
    this.closed = true;
    if (this.controller) this.controller.abort();
  }

  start() {
    if (!this.started) {
      this.started = true;
      // After the caller's synchronous on...() calls, so every handler sees the first frame.
      queueMicrotask(() => this._run());
    }
    return this;
  }

  _emit(kind, data) {
    for (const cb of this.handlers[kind]) {
      try { cb(data); } catch (e) { console.error(e); }
    }
  }

  async _run() {
    while (!this.closed) {
      this.controller = new AbortController();
      const headers = { Authorization: `Bearer ${this.token}`, Accept: "text/event-stream" };
      if (this.lastEventId !== null) headers["Last-Event-ID"] = String(this.lastEventId);
      let ended = false;
      try {
        const res = await fetch(this.path, { headers, signal: this.controller.signal });
        if (res.status === 401) { this.closed = true; this.onUnauthorized(); return; }
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        this.onStatus("live");
        ended = await this._read(res.body.getReader());
      } catch (e) {
        if (this.closed) return;
      }
      if (ended || this.closed) { this.onStatus("idle"); return; }
      this.onStatus("reconnecting");
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  async _read(reader) {
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const frame = this._parse(buf.slice(0, cut));
        buf = buf.slice(cut + 2);
        if (!frame) continue;
        if (frame.id !== null) this.lastEventId = Number(frame.id);
        if (frame.event === "progress") this._emit("progress", frame.data);
        else if (frame.event === "end") { this._emit("end", frame.data); return true; }
        else this._emit("event", frame.data);
      }
    }
  }

  _parse(block) {
    const frame = { event: "message", data: "", id: null };
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;  // keep-alive comment
      const i = line.indexOf(":");
      const key = i < 0 ? line : line.slice(0, i);
      const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (key === "event") frame.event = val;
      else if (key === "data") frame.data += (frame.data ? "\n" : "") + val;
      else if (key === "id") frame.id = val;
    }
    if (!frame.data) return null;
    frame.data = JSON.parse(frame.data);
    return frame;
  }
}

window.TaskMonitor = TaskMonitor;
