// Helpers shared by the runs page and the run page.
"use strict";

const View = {
  // How often pages ask the server for changes (ms); ?poll=MS overrides it.
  pollMs: Number(new URLSearchParams(location.search).get("poll")) || 2000,

  async getJSON(url) {
    const resp = await fetch(url, { cache: "no-store" });
    if (!resp.ok) throw new Error(url + ": " + resp.status);
    return resp.json();
  },

  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) node.append(c);
    return node;
  },

  // A cell's text the way `guild compare` shows values: floats cut (not rounded) to 6 decimals.
  format(val) {
    if (val === null || val === undefined) return "";
    if (typeof val === "boolean") return val ? "yes" : "no";
    if (typeof val === "number") {
      if (Number.isInteger(val)) return String(val);
      const s = String(val);
      if (s.includes("e")) return s;
      const [i, d] = s.split(".");
      return d.length > 6 ? i + "." + d.slice(0, 6) : s;
    }
    if (typeof val === "object") return JSON.stringify(val);
    return String(val);
  },

  statusClass(status) {
    return "status-" + String(status || "").split(" ")[0];
  },

  isRunning(status) {
    return String(status || "").startsWith("running");
  },

  fileUrl(runId, path, download) {
    const enc = path.split("/").map(encodeURIComponent).join("/");
    return "/api/runs/" + runId + "/files/" + enc + (download ? "?download=1" : "");
  },
};
