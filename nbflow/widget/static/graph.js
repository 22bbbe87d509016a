// nbflow run graph: the one renderer that the widget (widget.js) and the JupyterLab extension
// both use. It only draws the state it is given (computed in Python by nbflow.widget.state) and
// reports what the user does to its host: selecting a node, pressing an action button, asking
// for an executed notebook. The layout never changes after the first drawing; node states
// arrive whole (`set({nodes})`) or as patches of the changed nodes (`patch(nodes)`).
// Without positions (no `dot` program where the state was computed), the DOT text is laid out
// here with Graphviz compiled to WebAssembly, which the host loads from a static asset.
// draw.js holds the basics, pane.js the details pane; this module re-exports what hosts use.
import { ACTION_LABELS, clip, formatSeconds, h, nodeLines, PHASES, s, STOPPED } from "./draw.js";
import { DetailsPane } from "./pane.js";

export { formatSeconds, h, nodeLines, PHASES };

const VIZ_PROVIDER = Symbol.for("nbflow.viz.provider");
const VIZ_INSTANCE = Symbol.for("nbflow.viz.instance");
let views = 0;

/** Register how this page loads Graphviz/WebAssembly (a function returning its ES module). */
export function provideViz(load) {
  globalThis[VIZ_PROVIDER] = load;
}

/** Whether a page-wide Graphviz loader was registered (by the JupyterLab extension). */
export function hasVizProvider() {
  return typeof globalThis[VIZ_PROVIDER] === "function";
}

/**
 * The Graphviz instance of this page, loaded once: through the registered provider, else
 * through `fallback` (a function returning the ES module).
 */
export function vizInstance(fallback) {
  if (!globalThis[VIZ_INSTANCE]) {
    const load = hasVizProvider() ? globalThis[VIZ_PROVIDER] : fallback;
    if (!load) return Promise.reject(new Error("no Graphviz here to lay the graph out"));
    const promise = Promise.resolve(load()).then((mod) => mod.instance());
    globalThis[VIZ_INSTANCE] = promise;
    promise.catch(() => {
      if (globalThis[VIZ_INSTANCE] === promise) delete globalThis[VIZ_INSTANCE];
    });
  }
  return globalThis[VIZ_INSTANCE];
}

/** Graphviz JSON (json0) to the drawing's coordinates; the same reading as layout.normalize(). */
export function normalize(graph) {
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

const STATE_KEYS = ["graph", "positions", "dot", "info", "actions", "notice", "selected",
  "details", "notebook_html", "phases", "nodes"];

/**
 * The drawing of one run in `el`.
 *
 * `host` receives what the user does: `select(task, node)`, `act(name, task)`,
 * `openNotebook(node)`, and optionally `layout(json0)` (the browser laid the graph out),
 * `loadViz()` (the Graphviz ES module when no page-wide provider exists), `goToCell(task)`
 * (offers "Go to cell" in the details pane). `options.notebookLabel` names the button that
 * asks for a node's executed notebook.
 */
export class GraphView {
  constructor(el, host, options = {}) {
    this.el = el;
    this.host = host;
    this.options = options;
    this.uid = `nbflow-${++views}-${Math.random().toString(36).slice(2, 8)}`;
    this.st = { graph: { nodes: [], edges: [] }, positions: {}, dot: "", info: {}, actions: [],
      notice: "", selected: {}, details: {}, notebook_html: "", phases: PHASES, nodes: {} };
    this.items = {};
    this.scale = null;
    this.ticker = null;
    this.laidOut = null;
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
    this.graphEl.addEventListener("keydown", (ev) => this.onKey(ev));
    const pane = h("div", { class: "nbflow-pane", hidden: true });
    this.pane = new DetailsPane(pane, this);
    pane.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") this.host.select(null, null);
    });
    el.replaceChildren(
      h("div", { class: "nbflow-head" }, this.title, this.actionsEl, this.noticeEl, tools),
      h("div", { class: "nbflow-body" }, this.graphEl, pane));
    this.drawHead();
  }

  /** Take the given parts of the state (keys of STATE_KEYS) and redraw what they affect. */
  set(part) {
    const changed = new Set();
    for (const key of STATE_KEYS) {
      if (!(key in part)) continue;
      const value = part[key];
      this.st[key] = key === "nodes" ? { ...(value || {}) } : value ?? this.st[key];
      changed.add(key);
    }
    const any = (...keys) => keys.some((k) => changed.has(k));
    if (any("graph", "positions", "dot")) this.draw();
    else if (any("nodes", "phases")) this.updateNodes(this.st.nodes);
    if (any("info", "actions", "notice", "phases", "selected")) this.drawHead(); // Rerun needs a node
    if (any("selected")) this.highlight();
    if (any("details", "notebook_html", "selected")) this.pane.draw();
  }

  /** Apply the states of the changed nodes only. */
  patch(nodes) {
    Object.assign(this.st.nodes, nodes);
    this.updateNodes(nodes);
  }

  destroy() {
    clearInterval(this.ticker);
    this.ticker = null;
    this.destroyed = true;
  }

  phaseInfo(phase) {
    return (this.st.phases || PHASES)[phase] || { icon: "?", label: phase };
  }

  drawHead() {
    const info = this.st.info || {};
    const p = info.stopped ? STOPPED : this.phaseInfo(info.phase);
    const word = info.stopped ? STOPPED.label : info.phase;
    this.title.replaceChildren(
      h("b", {}, `run ${info.id || ""}`), " ",
      info.phase ? h("span", { class: "nbflow-badge", "data-phase": info.phase }, `${p.icon} ${word}`) : "",
      info.duration ? ` ${info.duration}` : "",
      info.message && info.phase !== "Succeeded" ? h("span", { class: "nbflow-msg" }, ` ${info.message}`) : "");
    const selected = (this.st.selected || {}).task;
    this.actionsEl.replaceChildren(...(this.st.actions || []).map((name) =>
      h("button", {
        class: `nbflow-action nbflow-action-${name}`,
        disabled: name === "rerun" && !selected,
        onclick: () => this.host.act(name, selected || null),
      }, ACTION_LABELS[name] || name)));
    this.noticeEl.textContent = this.st.notice || "";
  }

  async layOutHere() {
    const dot = this.st.dot;
    if (!dot) return;
    if (this.laying) {
      this.again = true;
      return;
    }
    this.laying = true;
    try {
      const viz = await vizInstance(this.host.loadViz);
      const result = viz.render(dot, { format: "json0" });
      if (result.status !== "success") throw new Error(result.errors.map((e) => e.message).join("; "));
      const graph = JSON.parse(result.output);
      this.laidOut = { dot, positions: normalize(graph) };
      if (this.st.dot === dot && !this.destroyed) this.drawWith(this.laidOut.positions, "browser");
      if (this.host.layout) this.host.layout(graph);
    } catch (err) {
      this.graphEl.textContent = `cannot lay the graph out: ${err}`;
    } finally {
      this.laying = false;
      if (this.again) {
        this.again = false;
        this.draw();
      }
    }
  }

  draw() {
    const pos = this.st.positions || {};
    if (pos.nodes && Object.keys(pos.nodes).length) this.drawWith(pos);
    else if (this.laidOut && this.laidOut.dot === this.st.dot) this.drawWith(this.laidOut.positions, "browser");
    else this.layOutHere();
  }

  drawWith(pos, where = null) {
    this.el.dataset.layout = where || this.el.dataset.layout || "kernel";
    const graph = this.st.graph || { nodes: [], edges: [] };
    const kinds = {};
    for (const e of graph.edges) kinds[`${e.from}\u0000${e.to}`] = e.kind;
    const svg = s("svg", { class: "nbflow-svg", viewBox: `-4 -4 ${pos.width + 8} ${pos.height + 8}` });
    const arrow = `${this.uid}-arrow`;
    const marker = s("marker", { id: arrow, viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
    marker.append(s("path", { d: "M0,0 L10,5 L0,10 z", class: "nbflow-arrowhead" }));
    const defs = s("defs");
    defs.append(marker);
    svg.append(defs);
    for (const e of pos.edges) {
      const kind = kinds[`${e.from}\u0000${e.to}`] || "dep";
      svg.append(s("path", { d: e.path, class: `nbflow-edge nbflow-edge-${kind}`, "marker-end": `url(#${arrow})` }));
    }
    this.items = {};
    for (const n of graph.nodes) {
      const box = pos.nodes[n.id];
      if (box) svg.append(this.drawNode(n, box));
    }
    this.svg = svg;
    this.size = [pos.width, pos.height];
    this.updateNodes(this.st.nodes); // painted before the drawing is in the page: one layout
    this.highlight();
    const width = this.graphEl.clientWidth; // measured without the new drawing in the page
    this.zoom(this.scale === null ? 0 : 1, width);
    this.graphEl.replaceChildren(svg);
  }

  drawNode(n, [x, y, w, hgt]) {
    const g = s("g", { class: `nbflow-node nbflow-${n.kind}`, transform: `translate(${x},${y})`,
      "data-task": n.id, tabindex: 0, role: "button", "aria-label": n.label });
    g.append(s("rect", { class: "nbflow-box", width: w, height: hgt, rx: 6 }));
    g.append(s("rect", { class: "nbflow-strip", width: 7, height: hgt, rx: 3 }));
    const text = (cls, yy) => {
      const t = s("text", { class: cls, x: 14, y: yy });
      g.append(t);
      return t;
    };
    const label = text("nbflow-label", 18);
    label.textContent = clip(n.label, 26);
    const item = { g, status: text("nbflow-status", 35), detail: text("nbflow-detail", 51), w, hgt, n, x, y };
    if (n.kind === "group") {
      item.bar = s("g", { class: "nbflow-bar", transform: `translate(14,${hgt - 14})` });
      g.append(item.bar);
    }
    const tip = s("title");
    g.append(tip);
    item.tip = tip;
    g.addEventListener("click", () => this.host.select(n.id, null));
    this.items[n.id] = item;
    return g;
  }

  /** Keys on a focused node: Enter/Space select it, arrows move to the nearest node that way,
   * Escape closes the details pane. */
  onKey(ev) {
    const id = ev.target && ev.target.getAttribute && ev.target.getAttribute("data-task");
    if (ev.key === "Escape") {
      this.host.select(null, null);
      return;
    }
    if (!id || !this.items[id]) return;
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      this.host.select(id, null);
      return;
    }
    const dirs = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };
    const dir = dirs[ev.key];
    if (!dir) return;
    ev.preventDefault();
    const next = this.neighbour(id, dir);
    if (next) this.items[next].g.focus();
  }

  neighbour(id, [dx, dy]) {
    const from = this.items[id];
    const cx = from.x + from.w / 2, cy = from.y + from.hgt / 2;
    let best = null, bestScore = Infinity;
    for (const [other, it] of Object.entries(this.items)) {
      if (other === id) continue;
      const ox = it.x + it.w / 2 - cx, oy = it.y + it.hgt / 2 - cy;
      const along = ox * dx + oy * dy;
      if (along <= 0) continue;
      const across = Math.abs(ox * dy - oy * dx);
      const score = along + 2 * across;
      if (score < bestScore) {
        best = other;
        bestScore = score;
      }
    }
    return best;
  }

  updateNodes(states) {
    for (const [id, st] of Object.entries(states)) {
      const item = this.items[id];
      if (item) this.paint(item, st);
    }
    const running = Object.values(this.st.nodes).some((st) => st.phase === "Running" && st.started && !st.finished);
    if (running && !this.ticker && !this.destroyed) this.ticker = setInterval(() => this.tick(), 1000);
    if (!running && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }

  tick() {
    for (const [id, st] of Object.entries(this.st.nodes)) {
      if (st.phase === "Running" && st.started && !st.finished && this.items[id]) this.paint(this.items[id], st);
    }
  }

  paint(item, st) {
    item.g.setAttribute("data-phase", st.phase);
    const { status, detail } = nodeLines(st, item.n, this.st.phases || PHASES);
    item.status.textContent = status;
    if (st.counts) this.paintBar(item, st);
    item.detail.textContent = clip(detail, 34);
    const when = item.n.when ? `\nwhen ${item.n.when}` : "";
    item.g.toggleAttribute("data-stopped", Boolean(st.stopped));
    item.tip.textContent = `${item.n.label}: ${st.stopped ? "stopped" : st.phase}${when}${st.message ? "\n" + st.message : ""}`;
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

  zoom(factor, width = this.graphEl.clientWidth) {
    if (!this.svg) return;
    const [w, hh] = this.size;
    const fit = Math.min(1, Math.max(0.4, (width || 800) / (w + 8)));
    this.scale = factor === 0 ? fit : Math.min(3, Math.max(0.1, (this.scale || fit) * factor));
    this.svg.setAttribute("width", Math.round((w + 8) * this.scale));
    this.svg.setAttribute("height", Math.round((hh + 8) * this.scale));
  }

  highlight() {
    const sel = (this.st.selected || {}).task;
    for (const [id, item] of Object.entries(this.items)) item.g.classList.toggle("nbflow-selected", id === sel);
  }

}
