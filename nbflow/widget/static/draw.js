// nbflow run graph: the basics the graph view and its details pane share (part of the one
// renderer of the widget and the JupyterLab extension; see graph.js).

export const SVG = "http://www.w3.org/2000/svg";

/** Icon and word of every phase (the same table as nbflow.widget.state.PHASES). */
export const PHASES = {
  Pending: { icon: "○", label: "pending" },
  Running: { icon: "◐", label: "running" },
  Succeeded: { icon: "✔", label: "succeeded" },
  Failed: { icon: "✖", label: "failed" },
  Error: { icon: "⚠", label: "error" },
  Skipped: { icon: "»", label: "skipped" },
  Omitted: { icon: "⊘", label: "omitted" },
};

/** Icon and word of a step or run that a stop ended (its phase stays Failed). */
export const STOPPED = { icon: "■", label: "stopped" };

/** Labels of the action buttons, by action name. */
export const ACTION_LABELS = {
  stop: "■ Stop run",
  resume: "▶ Resume suspended",
  retry: "↻ Retry failed",
  resume_run: "▶ Resume run",
  rerun: "↻ Rerun from selected",
};

/** An HTML element; `onclick` attributes become listeners, arrays of children are flattened. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") el.addEventListener("click", v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** An SVG element. */
export function s(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

/** `text` cut to `n` characters, with an ellipsis when cut. */
export function clip(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

/** A short duration: `0s`, `42s`, `3m05s`, `2h07m` (as nbflow.widget.state.format_seconds). */
export function formatSeconds(seconds) {
  const sec = Math.max(0, Math.round(seconds));
  if (sec < 60) return `${sec}s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}m${String(sec % 60).padStart(2, "0")}s`;
  return `${Math.floor(sec / 3600)}h${String(Math.floor((sec % 3600) / 60)).padStart(2, "0")}m`;
}

/** The text lines of a node: status (icon, word, time) and detail (items, attempts, cache). */
export function nodeLines(st, n, phases = PHASES, now = Date.now() / 1000) {
  const info = (ph) => phases[ph] || { icon: "?", label: ph };
  // a step that a stop ended is Failed for Argo, but reads "stopped"
  const p = st.stopped ? STOPPED : info(st.phase);
  let time = st.duration;
  if (!time && st.started && st.phase === "Running") time = formatSeconds(now - st.started);
  const status = `${p.icon} ${p.label}${time ? " · " + time : ""}`;
  let detail = "";
  if (st.counts) {
    detail = `${st.total} items ` + Object.entries(st.counts).map(([ph, k]) => `${info(ph).icon}${k}`).join(" ");
  } else if (st.suspended) detail = "⏸ suspended: resume it";
  else if (st.backoff) detail = `attempt ${st.attempt} · backoff ${st.backoff}`;
  else if (st.attempt) detail = `attempt ${st.attempt}`;
  else if (n && n.when && (!st.phase || ["Pending", "Skipped"].includes(st.phase))) detail = `if ${n.when}`;
  else if (n && n.template !== n.label) detail = n.template;
  if (st.cached) detail += detail ? " · cached" : "cached";
  return { status, detail };
}
