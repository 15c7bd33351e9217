// The runs page: a sortable, filterable runs table that follows runs live, and charts of selected runs.
"use strict";

const state = {
  rows: [],            // rows from /api/runs, newest first
  columns: [],         // [{key, label, kind}] kind: core | flag | scalar
  sort: null,          // {key, dir: 1 | -1}
  filter: "",
  selected: new Set(), // run ids picked for the charts
};

const CORE = [
  { key: "run", label: "run", kind: "core" },
  { key: "operation", label: "operation", kind: "core" },
  { key: "started", label: "started", kind: "core" },
  { key: "time", label: "time", kind: "core" },
  { key: "status", label: "status", kind: "core" },
  { key: "label", label: "label", kind: "core" },
];

// Columns as `guild compare` builds them: core, then each run's flags (sorted), then `step`
// (of `loss`, else of its first scalar) when it has scalars, then its scalar keys (sorted); the
// union in first-seen order scanning runs newest first.
function buildColumns(rows) {
  const cols = CORE.slice();
  const seen = new Set(cols.map((c) => c.key));
  const add = (key, label, kind) => {
    if (!seen.has(key)) {
      seen.add(key);
      cols.push({ key, label, kind });
    }
  };
  for (const r of rows) {
    for (const f of Object.keys(r.flags || {}).sort()) add("flag:" + f, f, "flag");
    const tags = Object.keys(r.scalars || {}).sort();
    if (tags.length) add("step", "step", "scalar");
    for (const t of tags) add("scalar:" + t, t, "scalar");
  }
  return cols;
}

function stepOf(row) {
  const s = row.scalars || {};
  const key = "loss" in s ? "loss" : Object.keys(s).sort()[0];
  return key === undefined ? undefined : s[key].step;
}

function cellValue(row, key) {
  if (key === "run") return row.shortId;
  if (key === "started") return row.startedTs;
  if (key === "step") return stepOf(row);
  if (key.startsWith("flag:")) return (row.flags || {})[key.slice(5)];
  if (key.startsWith("scalar:")) {
    const s = (row.scalars || {})[key.slice(7)];
    return s ? s.value : undefined;
  }
  return row[key];
}

function cellText(row, key) {
  if (key === "started") return row.started;
  return View.format(cellValue(row, key));
}

// Empty cells sort last both ways; numbers compare as numbers, anything else as text.
function compareRows(a, b, key, dir) {
  const va = cellValue(a, key), vb = cellValue(b, key);
  const ea = va === undefined || va === null || va === "", eb = vb === undefined || vb === null || vb === "";
  if (ea || eb) return ea === eb ? 0 : ea ? 1 : -1;
  let c;
  if (typeof va === "number" && typeof vb === "number") c = va - vb;
  else if (typeof va === "boolean" && typeof vb === "boolean") c = Number(va) - Number(vb);
  else c = String(va).localeCompare(String(vb), undefined, { numeric: true });
  return c * dir;
}

function visibleRows() {
  let rows = state.rows.slice();
  const q = state.filter.trim().toLowerCase();
  if (q) {
    rows = rows.filter((r) => state.columns.some((c) => cellText(r, c.key).toLowerCase().includes(q)));
  }
  if (state.sort) {
    const { key, dir } = state.sort;
    rows = rows.map((r, i) => [r, i]).sort((x, y) => compareRows(x[0], y[0], key, dir) || x[1] - y[1]).map((x) => x[0]);
  }
  return rows;
}

function renderHead() {
  const tr = document.querySelector("#runs thead tr");
  tr.replaceChildren(View.el("th", { class: "select-col" }));
  for (const c of state.columns) {
    const th = View.el("th", { class: "col-" + c.kind, dataset: { col: c.key }, title: "Sort by " + c.label, text: c.label });
    if (state.sort && state.sort.key === c.key) th.dataset.sort = state.sort.dir > 0 ? "asc" : "desc";
    th.addEventListener("click", () => {
      const dir = state.sort && state.sort.key === c.key ? -state.sort.dir : 1;
      state.sort = { key: c.key, dir };
      render();
    });
    tr.append(th);
  }
}

function renderBody() {
  const tbody = document.querySelector("#runs tbody");
  const rows = visibleRows();
  tbody.replaceChildren(
    ...rows.map((r) => {
      const box = View.el("input", { type: "checkbox", class: "select-run", title: "Plot this run", checked: state.selected.has(r.id) });
      box.addEventListener("change", () => {
        if (box.checked) state.selected.add(r.id);
        else state.selected.delete(r.id);
        Charts.update();
      });
      const tr = View.el("tr", { dataset: { runId: r.id } }, View.el("td", { class: "select-col" }, box));
      for (const c of state.columns) {
        const td = View.el("td", { class: "col-" + c.kind, dataset: { col: c.key } });
        if (c.key === "run") td.append(View.el("a", { href: "/run/" + r.id, text: r.shortId }));
        else td.textContent = cellText(r, c.key);
        if (c.key === "status") td.classList.add(View.statusClass(r.status));
        tr.append(td);
      }
      return tr;
    }),
  );
  document.getElementById("no-runs").hidden = state.rows.length > 0;
  document.getElementById("summary").textContent =
    rows.length === state.rows.length ? state.rows.length + " runs" : rows.length + " of " + state.rows.length + " runs";
}

function render() {
  renderHead();
  renderBody();
}

async function refresh() {
  if (state.busy) return;  // a slow answer is not asked for again before it arrives
  state.busy = true;
  try {
    const rows = await View.getJSON("/api/runs");
    const sig = JSON.stringify(rows);
    if (sig !== state.sig) {  // redraw only what changed: nothing moves under the pointer otherwise
      state.sig = sig;
      const known = new Set(rows.map((r) => r.id));
      for (const id of [...state.selected]) if (!known.has(id)) state.selected.delete(id);
      state.rows = rows;
      state.columns = buildColumns(rows);
      render();
    }
    document.getElementById("live").classList.remove("offline");
    await Charts.refresh();
  } catch (e) {
    document.getElementById("live").classList.add("offline");
  } finally {
    state.busy = false;
  }
}

// Charts: one per scalar tag, each selected run a line (its value against step).
const Charts = {
  plots: {},      // tag -> uPlot
  series: {},     // run id -> {tag: [[step, value]...]}
  fetched: {},    // run id -> status when its series was fetched

  async update() {
    await this.refresh(true);
  },

  async refresh(force) {
    if (typeof uPlot === "undefined") return;
    // Only the latest refresh draws: an older one finishing late must not draw an old selection.
    const gen = (this.gen = (this.gen || 0) + 1);
    const byId = Object.fromEntries(state.rows.map((r) => [r.id, r]));
    const ids = state.rows.map((r) => r.id).filter((id) => state.selected.has(id));  // table order, newest first
    for (const id of ids) {
      const status = byId[id].status;
      // A finished run's series is fetched once; a running one's on every refresh.
      if (this.series[id] && this.fetched[id] === status && !View.isRunning(status)) continue;
      try {
        this.series[id] = await View.getJSON("/api/runs/" + id + "/scalars");
        this.fetched[id] = status;
      } catch (e) {
        this.series[id] = this.series[id] || {};
      }
    }
    if (gen === this.gen) this.draw(ids, byId);
  },

  draw(ids, byId) {
    const box = document.getElementById("charts");
    document.getElementById("chart-hint").hidden = ids.length > 0;
    // Redraw only when something changed, so hovering a chart is not interrupted by polling.
    const key = JSON.stringify([ids, ids.map((id) => this.series[id]), ids.map((id) => byId[id].shortId)]);
    if (key === this.drawn) return;
    this.drawn = key;
    const tags = [];
    for (const id of ids) for (const t of Object.keys(this.series[id] || {})) if (!tags.includes(t)) tags.push(t);
    tags.sort();
    for (const tag of Object.keys(this.plots)) {
      if (!tags.includes(tag)) {
        this.plots[tag].destroy();
        delete this.plots[tag];
      }
    }
    box.replaceChildren();
    const width = Math.max(320, Math.min(560, box.clientWidth - 16));
    for (const tag of tags) {
      const runs = ids.filter((id) => (this.series[id] || {})[tag]);
      const steps = [...new Set(runs.flatMap((id) => this.series[id][tag].map((p) => p[0])))].sort((a, b) => a - b);
      const data = [steps];
      for (const id of runs) {
        const at = new Map(this.series[id][tag].map((p) => [p[0], typeof p[1] === "number" ? p[1] : null]));
        data.push(steps.map((s) => (at.has(s) ? at.get(s) : null)));
      }
      const opts = {
        title: tag,
        width,
        height: 240,
        scales: { x: { time: false } },
        axes: [{ label: "step" }, {}],
        cursor: { drag: { x: true, y: false } },
        series: [{ label: "step" }].concat(
          runs.map((id, i) => ({
            label: byId[id].shortId + " " + byId[id].operation,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            spanGaps: true,
            points: { show: steps.length < 60 },
          })),
        ),
      };
      const holder = View.el("div", { class: "chart", dataset: { tag, series: String(runs.length) } });
      box.append(holder);
      if (this.plots[tag]) this.plots[tag].destroy();
      this.plots[tag] = new uPlot(opts, data, holder);
    }
    window.viewCharts = this.plots;
  },
};

const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

document.getElementById("filter").addEventListener("input", (e) => {
  state.filter = e.target.value;
  renderBody();
});
document.getElementById("select-all").addEventListener("click", () => {
  for (const r of visibleRows()) state.selected.add(r.id);
  renderBody();
  Charts.update();
});
document.getElementById("select-none").addEventListener("click", () => {
  state.selected.clear();
  renderBody();
  Charts.update();
});

refresh().then(() => {
  document.body.dataset.ready = "1";
  setInterval(refresh, View.pollMs);
});
