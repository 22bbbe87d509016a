// nbflow run graph. The kernel computes every state; this file only draws it and reports clicks.
// Updates arrive as "patch" messages holding the changed nodes only; the layout never changes
// after the first drawing. Without the `dot` program in the kernel, the graph is laid out here
// with Graphviz compiled to WebAssembly (sent once as the `viz_esm` trait; anywidget loads this
// module from a blob URL, so the bundle cannot be imported by a relative path).

const SVG = "http://www.w3.org/2000/svg";
const stores = new WeakMap();

// One store per model, shared by its views: full states, then patches applied in order.
function storeOf(model) {
  let store = stores.get(model);
  if (store) return store;
  store = { nodes: { ...(model.get("nodes") || {}) }, views: new Set() };
  stores.set(model, store);
  model.on("change:nodes", () => {
    store.nodes = { ...(model.get("nodes") || {}) };
    for (const view of store.views) view.updateNodes(store.nodes);
  });
  model.on("msg:custom", (msg) => {
    if (!msg || msg.type !== "patch") return;
    Object.assign(store.nodes, msg.nodes);
    for (const view of store.views) view.updateNodes(msg.nodes);
  });
  return store;
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") el.addEventListener("click", v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function clip(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

function elapsed(startedS) {
  const sec = Math.max(0, Math.round(Date.now() / 1000 - startedS));
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${String(sec % 60).padStart(2, "0")}s`;
  return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, "0")}m`;
}

// Graphviz JSON (json0) to the drawing's coordinates; the same reading as layout.normalize().
function normalize(graph) {
  const [, , width, height] = graph.bb.split(",").map(Number);
  const names = {};
  const nodes = {};
  for (const o of graph.objects || []) {
    if (!o.pos) continue;
    names[o._gvid] = o.name;
    const [x, y] = o.pos.split(",").map(Number);
    const w = Number(o.width) * 72, hh = Number(o.height) * 72;
    nodes[o.name] = [x - w / 2, height - y - hh / 2, w, hh];
  }
  const edges = [];
  for (const e of graph.edges || []) {
    let end = null;
    const pts = [];
    for (const part of (e.pos || "").split(" ")) {
      const f = part.split(",");
      if (f[0] === "e") end = [Number(f[1]), height - Number(f[2])];
      else if (f[0] !== "s" && f.length === 2) pts.push([Number(f[0]), height - Number(f[1])]);
    }
    if (pts.length < 4) continue;
    const p = (q) => `${q[0].toFixed(1)},${q[1].toFixed(1)}`;
    let d = `M${p(pts[0])}`;
    for (let i = 1; i + 2 < pts.length; i += 3) d += ` C${p(pts[i])} ${p(pts[i + 1])} ${p(pts[i + 2])}`;
    if (end) d += ` L${p(end)}`;
    edges.push({ from: names[e.tail], to: names[e.head], path: d });
  }
  return { width, height, nodes, edges };
}

class GraphView {
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.store = storeOf(model);
    this.items = {};
    this.scale = null;
    this.ticker = null;
    el.classList.add("nbflow");
    this.title = h("span", { class: "nbflow-title" });
    this.actionsEl = h("span", { class: "nbflow-actions" });
    this.noticeEl = h("span", { class: "nbflow-notice" });
    const zoom = (f) => () => this.zoom(f);
    const tools = h("span", { class: "nbflow-zoom" },
      h("button", { title: "zoom out", onclick: zoom(0.8) }, "−"),
      h("button", { title: "fit", onclick: zoom(0) }, "fit"),
      h("button", { title: "zoom in", onclick: zoom(1.25) }, "+"));
    this.graphEl = h("div", { class: "nbflow-graph" }, "laying out the graph…");
    this.pane = h("div", { class: "nbflow-pane", hidden: true });
    el.replaceChildren(
      h("div", { class: "nbflow-head" }, this.title, this.actionsEl, this.noticeEl, tools),
      h("div", { class: "nbflow-body" }, this.graphEl, this.pane));
    this.handlers = {
      "change:positions": () => this.draw(),
      "change:viz_esm": () => this.draw(),
      "change:info": () => this.drawHead(),
      "change:actions": () => this.drawHead(),
      "change:notice": () => this.drawHead(),
      "change:selected": () => this.highlight(),
      "change:details": () => this.drawPane(),
      "change:notebook_html": () => this.drawPane(),
    };
    for (const [ev, fn] of Object.entries(this.handlers)) model.on(ev, fn);
    this.store.views.add(this);
    this.drawHead();
    this.draw();
    this.drawPane();
  }

  destroy() {
    for (const [ev, fn] of Object.entries(this.handlers)) this.model.off(ev, fn);
    this.store.views.delete(this);
    clearInterval(this.ticker);
  }

  phaseInfo(phase) {
    const phases = this.model.get("phases") || {};
    return phases[phase] || { icon: "?", label: phase };
  }

  drawHead() {
    const info = this.model.get("info") || {};
    const p = this.phaseInfo(info.phase);
    this.title.replaceChildren(
      h("b", {}, `run ${info.id || ""}`), " ",
      h("span", { class: "nbflow-badge", "data-phase": info.phase }, `${p.icon} ${info.phase}`),
      info.duration ? ` ${info.duration}` : "",
      info.message && info.phase !== "Succeeded" ? h("span", { class: "nbflow-msg" }, ` ${info.message}`) : "");
    const labels = { stop: "■ Stop run", resume: "▶ Resume suspended", retry: "↻ Retry failed",
      resume_run: "▶ Resume run", rerun: "↻ Rerun from selected" };
    const selected = (this.model.get("selected") || {}).task;
    this.actionsEl.replaceChildren(...(this.model.get("actions") || []).map((name) =>
      h("button", {
        class: `nbflow-action nbflow-action-${name}`,
        disabled: name === "rerun" && !selected,
        onclick: () => this.model.send({ type: "action", name, task: selected || null }),
      }, labels[name] || name)));
    this.noticeEl.textContent = this.model.get("notice") || "";
  }

  async layOutHere() {
    const source = this.model.get("viz_esm");
    const dot = this.model.get("dot");
    if (!source || !dot) return;
    if (this.laying) {
      this.again = true;
      return;
    }
    this.laying = true;
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    try {
      const viz = await (await import(url)).instance();
      const result = viz.render(dot, { format: "json0" });
      if (result.status !== "success") throw new Error(result.errors.map((e) => e.message).join("; "));
      const graph = JSON.parse(result.output);
      this.drawWith(normalize(graph), "browser"); // at once, even while the kernel is busy
      this.model.send({ type: "layout", graph }); // kept by the kernel for other views
    } catch (err) {
      this.graphEl.textContent = `cannot lay the graph out: ${err}`;
    } finally {
      URL.revokeObjectURL(url);
      this.laying = false;
      if (this.again) {
        this.again = false;
        this.draw();
      }
    }
  }

  draw() {
    const pos = this.model.get("positions") || {};
    if (pos.nodes && Object.keys(pos.nodes).length) this.drawWith(pos);
    else this.layOutHere();
  }

  drawWith(pos, where = null) {
    this.el.dataset.layout = where || this.el.dataset.layout || "kernel";
    const graph = this.model.get("graph") || { nodes: [], edges: [] };
    const kinds = {};
    for (const e of graph.edges) kinds[`${e.from}\u0000${e.to}`] = e.kind;
    const svg = s("svg", { class: "nbflow-svg", viewBox: `-4 -4 ${pos.width + 8} ${pos.height + 8}` });
    const marker = s("marker", { id: "nbflow-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(s("path", { d: "M0,0 L10,5 L0,10 z", class: "nbflow-arrowhead" }));
    const defs = s("defs");
    defs.append(marker);
    svg.append(defs);
    for (const e of pos.edges) {
      const kind = kinds[`${e.from}\u0000${e.to}`] || "dep";
      svg.append(s("path", { d: e.path, class: `nbflow-edge nbflow-edge-${kind}`, "marker-end": "url(#nbflow-arrow)" }));
    }
    this.items = {};
    for (const n of graph.nodes) {
      const box = pos.nodes[n.id];
      if (box) svg.append(this.drawNode(n, box));
    }
    this.svg = svg;
    this.size = [pos.width, pos.height];
    this.graphEl.replaceChildren(svg);
    this.zoom(this.scale === null ? 0 : 1);
    this.updateNodes(this.store.nodes);
    this.highlight();
  }

  drawNode(n, [x, y, w, hgt]) {
    const g = s("g", { class: `nbflow-node nbflow-${n.kind}`, transform: `translate(${x},${y})`,
      "data-task": n.id, tabindex: 0, role: "button" });
    g.append(s("rect", { class: "nbflow-box", width: w, height: hgt, rx: 6 }));
    g.append(s("rect", { class: "nbflow-strip", width: 7, height: hgt, rx: 3 }));
    const text = (cls, yy) => {
      const t = s("text", { class: cls, x: 14, y: yy });
      g.append(t);
      return t;
    };
    const label = text("nbflow-label", 18);
    label.textContent = clip(n.label, 26);
    const item = { g, status: text("nbflow-status", 35), detail: text("nbflow-detail", 51), w, hgt, n };
    if (n.kind === "group") {
      item.bar = s("g", { class: "nbflow-bar", transform: `translate(14,${hgt - 14})` });
      g.append(item.bar);
    }
    const tip = s("title");
    g.append(tip);
    item.tip = tip;
    const select = () => this.select(n.id);
    g.addEventListener("click", select);
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") select(); });
    this.items[n.id] = item;
    return g;
  }

  updateNodes(states) {
    for (const [id, st] of Object.entries(states)) {
      const item = this.items[id];
      if (item) this.paint(item, st);
    }
    const running = Object.values(this.store.nodes).some((st) => st.phase === "Running" && st.started && !st.finished);
    if (running && !this.ticker) this.ticker = setInterval(() => this.tick(), 1000);
    if (!running && this.ticker) { clearInterval(this.ticker); this.ticker = null; }
  }

  tick() {
    for (const [id, st] of Object.entries(this.store.nodes)) {
      if (st.phase === "Running" && st.started && !st.finished && this.items[id]) this.paint(this.items[id], st);
    }
  }

  paint(item, st) {
    const p = this.phaseInfo(st.phase);
    item.g.setAttribute("data-phase", st.phase);
    let time = st.duration;
    if (!time && st.started && st.phase === "Running") time = elapsed(st.started);
    item.status.textContent = `${p.icon} ${p.label}${time ? " · " + time : ""}`;
    let detail = "";
    if (st.counts) {
      detail = `${st.total} items ` + Object.entries(st.counts).map(([ph, k]) => `${this.phaseInfo(ph).icon}${k}`).join(" ");
      this.paintBar(item, st);
    } else if (st.suspended) detail = "⏸ suspended: resume it";
    else if (st.backoff) detail = `attempt ${st.attempt} · backoff ${st.backoff}`;
    else if (st.attempt) detail = `attempt ${st.attempt}`;
    else if (item.n.template !== item.n.label) detail = item.n.template;
    if (st.cached) detail += detail ? " · cached" : "cached";
    item.detail.textContent = clip(detail, 34);
    item.tip.textContent = `${item.n.label}: ${st.phase}${st.message ? "\n" + st.message : ""}`;
  }

  paintBar(item, st) {
    const width = item.w - 28;
    const bar = item.bar;
    bar.replaceChildren(s("rect", { class: "nbflow-bar-bg", width, height: 7, rx: 2 }));
    let x = 0;
    for (const [ph, k] of Object.entries(st.counts)) {
      const w = st.total ? (width * k) / st.total : 0;
      if (w <= 0) continue;
      bar.append(s("rect", { class: "nbflow-bar-part", "data-phase": ph, x, width: w, height: 7 }));
      x += w;
    }
  }

  zoom(factor) {
    if (!this.svg) return;
    const [w, hh] = this.size;
    const fit = Math.min(1, Math.max(0.4, (this.graphEl.clientWidth || 800) / (w + 8)));
    this.scale = factor === 0 ? fit : Math.min(3, Math.max(0.1, (this.scale || fit) * factor));
    this.svg.setAttribute("width", Math.round((w + 8) * this.scale));
    this.svg.setAttribute("height", Math.round((hh + 8) * this.scale));
  }

  select(task, node = null) {
    this.model.set("selected", { task, node });
    this.model.save_changes();
  }

  highlight() {
    const sel = (this.model.get("selected") || {}).task;
    for (const [id, item] of Object.entries(this.items)) item.g.classList.toggle("nbflow-selected", id === sel);
    this.drawHead();
  }

  drawPane() {
    const d = this.model.get("details") || {};
    const sel = this.model.get("selected") || {};
    if (!sel.task) {
      this.pane.hidden = true;
      this.pane.replaceChildren();
      return;
    }
    this.pane.hidden = false;
    this.pane.setAttribute("data-task", sel.task);
    if (d.task !== sel.task || (sel.node && d.node !== sel.node)) {
      this.pane.replaceChildren(h("div", { class: "nbflow-muted" }, "loading…"));
      return;
    }
    this.pane.setAttribute("data-phase", d.phase || "");
    const p = this.phaseInfo(d.phase);
    const parts = [
      h("div", { class: "nbflow-pane-head" },
        h("b", {}, d.title || d.task), " ",
        h("span", { class: "nbflow-badge", "data-phase": d.phase }, `${p.icon} ${d.phase}`),
        d.duration ? ` ${d.duration}` : "",
        h("button", { class: "nbflow-close", title: "close", onclick: () => this.select(null) }, "×")),
      sel.node ? h("button", { class: "nbflow-link", onclick: () => this.select(d.task) }, `← back to ${d.task}`) : null,
      d.message ? h("div", { class: "nbflow-message" }, d.message) : null,
      h("div", { class: "nbflow-muted" }, `template ${d.template} · ${d.kind}`),
    ];
    if (d.error) {
      parts.push(this.section("Error", [
        d.error.cell !== null && d.error.cell !== undefined ? h("div", { class: "nbflow-muted" }, `in cell ${d.error.cell} of the step notebook`) : null,
        d.error.source ? h("pre", { class: "nbflow-source" }, d.error.source) : null,
        h("pre", { class: "nbflow-traceback" }, d.error.traceback || `${d.error.ename}: ${d.error.evalue}`),
      ]));
    }
    if (d.attempts && d.attempts.length) parts.push(this.section(`Attempts (${d.attempts.length})`, this.list(d.task, d.attempts)));
    if (d.items && d.items.length) parts.push(this.section(`Items (${d.items_total})`, this.grid(d)));
    if (d.parameters && d.parameters.length) parts.push(this.section("Parameters", this.table(["name", "value"], d.parameters.map((q) => [q.name, q.value]))));
    for (const [title, arts] of [["Inputs", d.inputs], ["Outputs", d.outputs]]) {
      if (!arts || !arts.length) continue;
      parts.push(this.section(title, arts.map((a) => this.artifact(a))));
    }
    if (d.log_tail) parts.push(this.section("Log (last lines)", [h("pre", { class: "nbflow-log" }, d.log_tail)]));
    if (d.notebook) parts.push(this.section("Executed notebook", this.notebook(d)));
    this.pane.replaceChildren(...parts.filter(Boolean));
  }

  section(title, children) {
    return h("details", { class: "nbflow-section", open: true }, h("summary", {}, title), ...children);
  }

  table(head, rows) {
    return h("table", { class: "nbflow-kv" }, h("tr", {}, head.map((c) => h("th", {}, c))),
      rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))));
  }

  list(task, entries) {
    return [h("ul", { class: "nbflow-list" }, entries.map((a) => h("li", {},
      h("button", { class: "nbflow-link", "data-phase": a.phase, onclick: () => this.select(task, a.id) },
        `${this.phaseInfo(a.phase).icon} ${a.label}`), ` ${a.phase} ${a.duration || ""} `,
      a.message ? h("span", { class: "nbflow-muted" }, a.message) : null)))];
  }

  grid(d) {
    const cells = d.items.map((it) => h("button", {
      class: "nbflow-cell", "data-phase": it.phase, title: `${it.label}: ${it.phase}${it.attempts > 1 ? ` (${it.attempts} attempts)` : ""}`,
      onclick: () => this.select(d.task, it.id),
    }, this.phaseInfo(it.phase).icon));
    const note = d.items.length < d.items_total ? h("div", { class: "nbflow-muted" }, `showing ${d.items.length} of ${d.items_total}: failed and running first`) : null;
    return [note, h("div", { class: "nbflow-grid" }, cells)];
  }

  artifact(a) {
    const head = h("div", {}, h("b", {}, a.name), " ",
      h("span", { class: "nbflow-muted" }, [a.type || a.format, a.size_text].filter(Boolean).join(" · ")));
    let preview = null;
    if (a.preview && a.preview.kind === "text") preview = h("pre", { class: "nbflow-preview" }, a.preview.text);
    if (a.preview && a.preview.kind === "table") {
      preview = h("div", {}, h("div", { class: "nbflow-muted" }, `${a.preview.shape[0]} rows × ${a.preview.shape[1]} columns`),
        this.table(a.preview.columns, a.preview.rows));
    }
    return h("div", { class: "nbflow-artifact" }, head, preview);
  }

  notebook(d) {
    const html = this.model.get("notebook_html");
    const out = [h("div", { class: "nbflow-path" }, d.notebook),
      h("button", { class: "nbflow-open-notebook", onclick: () => this.model.send({ type: "notebook", node: d.node }) },
        html ? "reload notebook" : "show notebook")];
    if (html) out.push(h("iframe", { class: "nbflow-notebook", sandbox: "", srcdoc: html, title: "executed notebook" }));
    return out;
  }
}

export default {
  initialize({ model }) {
    storeOf(model);
    try {
      model.send({ type: "sync" });
    } catch (err) {
      // no kernel (a static page): the saved state is all there is
    }
  },
  render({ model, el }) {
    const view = new GraphView(model, el);
    return () => view.destroy();
  },
};
