// nbflow run graph widget (anywidget front end). The kernel computes every state; graph.js, the
// renderer shared with the JupyterLab extension, draws it. This file only connects the two:
// synced traits and "patch" messages (the changed nodes only) go to the views, clicks and
// buttons go back to the kernel. anywidget loads this module from a blob URL, where relative
// imports do not resolve, so nbflow.widget.bundle inlines graph.js in its place.
import { GraphView } from "./graph.js";

const TRAITS = ["graph", "positions", "dot", "info", "actions", "notice", "selected", "details",
  "notebook_html", "phases"];
const stores = new WeakMap();

// One store per model, shared by its views: full states, then patches applied in order.
function storeOf(model) {
  let store = stores.get(model);
  if (store) return store;
  store = { nodes: { ...(model.get("nodes") || {}) }, views: new Set(), viz: null };
  stores.set(model, store);
  model.on("change:nodes", () => {
    store.nodes = { ...(model.get("nodes") || {}) };
    for (const view of store.views) view.set({ nodes: store.nodes });
  });
  model.on("msg:custom", (msg) => {
    if (!msg) return;
    if (msg.type === "patch") {
      Object.assign(store.nodes, msg.nodes);
      for (const view of store.views) view.patch(msg.nodes);
    } else if (msg.type === "viz" && store.viz) {
      store.viz(msg.esm);
    }
  });
  return store;
}

// Graphviz/WebAssembly from the kernel, for pages without the nbflow JupyterLab extension
// (which registers its own static copy): sent as a message, so never saved with the notebook.
function vizFromKernel(model, store) {
  return new Promise((resolve, reject) => {
    store.viz = async (source) => {
      store.viz = null;
      const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
      try {
        resolve(await import(/* webpackIgnore: true */ url));
      } catch (err) {
        reject(err);
      } finally {
        URL.revokeObjectURL(url);
      }
    };
    model.send({ type: "viz" });
  });
}

// Stop and resume go through the nbflow server when the page has one (JupyterLab or Notebook
// with nbflow installed): they then work even while the kernel is busy or dead. Elsewhere (or
// when the server refuses), the kernel does them, answering while a cell waits for the run.
const SERVER_ACTIONS = new Set(["stop", "resume"]);

function pageConfig() {
  const el = typeof document !== "undefined" ? document.getElementById("jupyter-config-data") : null;
  if (!el) return null;
  try {
    return JSON.parse(el.textContent || "{}");
  } catch (err) {
    return null;
  }
}

function xsrfToken() {
  const found = (typeof document !== "undefined" ? document.cookie : "").match(/(?:^|;\s*)_xsrf=([^;]*)/);
  return found ? decodeURIComponent(found[1]) : "";
}

/** Ask the nbflow server to do action `name` on run `run`; whether it did. */
async function actThroughServer(run, name, task) {
  const config = pageConfig();
  if (!config || !config.baseUrl || !run || typeof fetch !== "function") return false;
  const base = config.baseUrl.endsWith("/") ? config.baseUrl : `${config.baseUrl}/`;
  const url = `${base}nbflow/api/runs/${encodeURIComponent(run)}/actions/${name}`;
  const headers = { "Content-Type": "application/json" };
  const xsrf = xsrfToken();
  if (xsrf) headers["X-XSRFToken"] = xsrf;
  if (config.token) headers.Authorization = `token ${config.token}`;
  try {
    const body = JSON.stringify(task ? { task } : {});
    const resp = await fetch(url, { method: "POST", credentials: "same-origin", headers, body });
    return resp.ok;
  } catch (err) {
    return false;
  }
}

function stateOf(model, store) {
  const state = { nodes: store.nodes };
  for (const key of TRAITS) state[key] = model.get(key);
  return state;
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
    const store = storeOf(model);
    const host = {
      select(task, node = null) {
        model.set("selected", { task, node });
        model.save_changes();
      },
      act: async (name, task) => {
        const run = (model.get("info") || {}).id;
        if (SERVER_ACTIONS.has(name) && (await actThroughServer(run, name, task))) return;
        model.send({ type: "action", name, task });
      },
      openNotebook: (node) => model.send({ type: "notebook", node }),
      layout: (graph) => model.send({ type: "layout", graph }), // kept by the kernel for other views
      loadViz: () => vizFromKernel(model, store),
    };
    const view = new GraphView(el, host);
    const handlers = {};
    for (const key of TRAITS) {
      handlers[`change:${key}`] = () => view.set({ [key]: model.get(key) });
      model.on(`change:${key}`, handlers[`change:${key}`]);
    }
    store.views.add(view);
    view.set(stateOf(model, store));
    return () => {
      for (const [ev, fn] of Object.entries(handlers)) model.off(ev, fn);
      store.views.delete(view);
      view.destroy();
    };
  },
};
