// One run's page: attributes, flags, scalars (values and charts), dependencies, files, live output.
"use strict";

const runId = decodeURIComponent(location.pathname.split("/").pop());
const page = { detail: null, outputOffset: 0, sig: null, chartSig: null, plots: [], outputDone: false };

function fillPairs(dl, obj) {
  dl.replaceChildren();
  for (const [k, v] of Object.entries(obj || {})) {
    dl.append(View.el("dt", { text: k }), View.el("dd", { dataset: { key: k }, text: View.format(v) }));
  }
  if (!dl.children.length) dl.append(View.el("dt", { class: "none", text: "none" }));
}

function humanSize(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

async function showFile(f) {
  const view = document.getElementById("file-view");
  const head = View.el("p", {},
    View.el("strong", { text: f.path }), " ",
    View.el("a", { href: View.fileUrl(runId, f.path, true), class: "download", text: "download" }));
  if (f.kind === "image") {
    view.replaceChildren(head, View.el("img", { src: View.fileUrl(runId, f.path), alt: f.path }));
    return;
  }
  const enc = f.path.split("/").map(encodeURIComponent).join("/");
  let body;
  try {
    const p = await View.getJSON("/api/runs/" + runId + "/preview/" + enc);
    body = p.text === null
      ? View.el("p", { class: "binary", text: "Binary file (" + humanSize(p.size) + "): use download." })
      : View.el("pre", { class: "file-text", text: p.text + (p.truncated ? "\n[...]" : "") });
  } catch (e) {
    body = View.el("p", { class: "error", text: "Cannot show this file." });
  }
  view.replaceChildren(head, body);
}

function renderDetail(d) {
  document.title = d.shortId + " " + d.operation + " - Guild View";
  document.getElementById("run-title").textContent = d.shortId + "  " + d.operation + (d.label ? "  " + d.label : "");
  const st = document.getElementById("run-status");
  st.textContent = d.status;
  st.className = View.statusClass(d.status);
  fillPairs(document.getElementById("attributes"),
    Object.assign({ id: d.id, status: d.status, started: d.started, time: d.time, dir: d.dir }, d.attributes));
  fillPairs(document.getElementById("flags"), d.flags);
  document.querySelector("#scalars tbody").replaceChildren(
    ...Object.entries(d.scalarsDetail || {}).map(([k, s]) =>
      View.el("tr", { dataset: { key: k } },
        View.el("td", { text: k }), View.el("td", { text: View.format(s.value) }), View.el("td", { text: String(s.step) }))));
  const deps = document.getElementById("deps");
  deps.replaceChildren(
    ...(d.deps || []).map((dep) =>
      View.el("li", {}, dep.name + ": ", View.el("a", { href: "/run/" + dep.run, text: dep.run.slice(0, 8) }),
        dep.paths.length ? " (" + dep.paths.join(", ") + ")" : "")));
  if (!deps.children.length) deps.append(View.el("li", { class: "none", text: "none" }));
  document.getElementById("files").replaceChildren(
    ...(d.files || []).map((f) => {
      const a = View.el("a", { href: "#", class: "file", dataset: { path: f.path }, text: f.path });
      a.addEventListener("click", (e) => { e.preventDefault(); showFile(f); });
      return View.el("li", {}, a, " ", View.el("span", { class: "size", text: humanSize(f.size) }), " ",
        View.el("a", { href: View.fileUrl(runId, f.path, true), title: "download", text: "\u2913" }));
    }));
}

async function refreshCharts() {
  if (typeof uPlot === "undefined") return;
  const series = await View.getJSON("/api/runs/" + runId + "/scalars");
  const sig = JSON.stringify(series);
  if (sig === page.chartSig) return;
  page.chartSig = sig;
  for (const p of page.plots) p.destroy();
  page.plots = [];
  const box = document.getElementById("charts");
  box.replaceChildren();
  for (const key of Object.keys(series).sort()) {
    const pts = series[key].filter((p) => typeof p[1] === "number").sort((a, b) => a[0] - b[0]);
    const holder = View.el("div", { class: "chart", dataset: { tag: key, series: "1" } });
    box.append(holder);
    page.plots.push(new uPlot({
      title: key, width: 420, height: 200, scales: { x: { time: false } },
      axes: [{ label: "step" }, {}],
      series: [{ label: "step" }, { label: key, stroke: "#1f77b4", width: 2, points: { show: pts.length < 60 } }],
    }, [pts.map((p) => p[0]), pts.map((p) => p[1])], holder));
  }
}

async function refreshOutput() {
  const out = document.getElementById("output");
  for (let i = 0; i < 50; i++) {
    const chunk = await View.getJSON("/api/runs/" + runId + "/output?offset=" + page.outputOffset);
    if (chunk.text) out.append(document.createTextNode(chunk.text));
    page.outputOffset = chunk.offset;
    if (!chunk.more) break;
  }
}

async function refresh() {
  try {
    const resp = await fetch("/api/runs/" + runId, { cache: "no-store" });
    if (resp.status === 404) {
      document.getElementById("missing").hidden = false;
      return false;
    }
    const d = await resp.json();
    const sig = JSON.stringify(d);
    if (sig !== page.sig) {
      page.sig = sig;
      renderDetail(d);
    }
    const running = View.isRunning(d.status);
    if (!page.outputDone) await refreshOutput();
    await refreshCharts();
    document.getElementById("live").classList.remove("offline");
    // Once the run has stopped and its output is all read, there is nothing more to follow.
    if (!running) page.outputDone = true;
    return running;
  } catch (e) {
    document.getElementById("live").classList.add("offline");
    return true;
  }
}

(async function follow() {
  let running = await refresh();
  document.body.dataset.ready = "1";
  while (running) {
    await new Promise((r) => setTimeout(r, View.pollMs));
    running = await refresh();
  }
  document.getElementById("live").textContent = "stopped";
})();
