// nbflow run graph: the details pane of the selected node (phase, error, attempts, items,
// parameters, inputs and outputs, log tail, executed notebook). Part of the one renderer.
import { h } from "./draw.js";

/** The details pane of a GraphView: draws `view.st.details` for `view.st.selected`. */
export class DetailsPane {
  constructor(el, view) {
    this.el = el;
    this.view = view;
    this.host = view.host;
    this.options = view.options;
  }

  phaseInfo(phase) {
    return this.view.phaseInfo(phase);
  }

  draw() {
    const d = this.view.st.details || {};
    const sel = this.view.st.selected || {};
    if (!sel.task) {
      this.el.hidden = true;
      this.el.replaceChildren();
      return;
    }
    this.el.hidden = false;
    this.el.setAttribute("data-task", sel.task);
    if (d.task !== sel.task || (sel.node && d.node !== sel.node)) {
      this.el.replaceChildren(h("div", { class: "nbflow-muted" }, "loading…"));
      return;
    }
    this.el.setAttribute("data-phase", d.phase || "");
    const p = this.phaseInfo(d.phase);
    const select = (task, node = null) => () => this.host.select(task, node);
    const parts = [
      h("div", { class: "nbflow-pane-head" },
        h("b", {}, d.title || d.task), " ",
        h("span", { class: "nbflow-badge", "data-phase": d.phase }, `${p.icon} ${d.phase}`),
        d.duration ? ` ${d.duration}` : "",
        h("button", { class: "nbflow-close", title: "close (Escape)", onclick: select(null) }, "×")),
      sel.node ? h("button", { class: "nbflow-link", onclick: select(d.task) }, `← back to ${d.task}`) : null,
      d.message ? h("div", { class: "nbflow-message" }, d.message) : null,
      h("div", { class: "nbflow-muted" }, `template ${d.template} · ${d.kind}`),
      this.host.goToCell && d.template
        ? h("button", { class: "nbflow-goto-cell", onclick: () => this.host.goToCell(d.task, d.template) }, "Go to cell")
        : null,
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
    if (d.log_tail) parts.push(this.section("Log (last lines)", h("pre", { class: "nbflow-log" }, d.log_tail)));
    if (d.notebook) parts.push(this.section("Executed notebook", this.notebook(d)));
    this.el.replaceChildren(...parts.filter(Boolean));
  }

  section(title, children) {
    return h("details", { class: "nbflow-section", open: true }, h("summary", {}, title), children);
  }

  table(head, rows) {
    return h("table", { class: "nbflow-kv" }, h("tr", {}, head.map((c) => h("th", {}, c))),
      rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))));
  }

  list(task, entries) {
    return h("ul", { class: "nbflow-list" }, entries.map((a) => h("li", {},
      h("button", { class: "nbflow-link", "data-phase": a.phase, onclick: () => this.host.select(task, a.id) },
        `${this.phaseInfo(a.phase).icon} ${a.label}`), ` ${a.phase} ${a.duration || ""} `,
      a.message ? h("span", { class: "nbflow-muted" }, a.message) : null)));
  }

  grid(d) {
    const cells = d.items.map((it) => h("button", {
      class: "nbflow-cell", "data-phase": it.phase, title: `${it.label}: ${it.phase}${it.attempts > 1 ? ` (${it.attempts} attempts)` : ""}`,
      onclick: () => this.host.select(d.task, it.id),
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
    const html = this.view.st.notebook_html;
    const label = this.options.notebookLabel || (html ? "reload notebook" : "show notebook");
    const out = [h("div", { class: "nbflow-path" }, d.notebook),
      h("button", { class: "nbflow-open-notebook", onclick: () => this.host.openNotebook(d.node) }, label)];
    if (html) out.push(h("iframe", { class: "nbflow-notebook", sandbox: "", srcdoc: html, title: "executed notebook" }));
    return out;
  }
}
