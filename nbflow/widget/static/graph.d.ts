// Types of graph.js, the run graph renderer shared by the widget and the JupyterLab extension.

export interface PhaseInfo {
  icon: string;
  label: string;
}

/** The state of one graph node (nbflow.widget.state.task_state). */
export interface NodeState {
  phase: string;
  message?: string;
  started?: number | null;
  finished?: number | null;
  duration?: string;
  attempt?: string;
  backoff?: string;
  cached?: number;
  suspended?: boolean;
  counts?: Record<string, number>;
  total?: number;
}

export interface GraphNodeShape {
  id: string;
  label: string;
  template: string;
  kind: 'task' | 'group' | 'exit' | string;
}

export interface GraphShape {
  nodes: GraphNodeShape[];
  edges: { from: string; to: string; kind: string }[];
}

export interface Positions {
  width?: number;
  height?: number;
  nodes?: Record<string, [number, number, number, number]>;
  edges?: { from: string; to: string; path: string }[];
}

export interface RunInfo {
  id?: string;
  phase?: string;
  message?: string;
  duration?: string;
  started?: number | null;
  finished?: number | null;
}

export interface Selection {
  task?: string | null;
  node?: string | null;
}

/** Any part of what a GraphView draws. */
export interface GraphState {
  graph?: GraphShape;
  positions?: Positions;
  dot?: string;
  info?: RunInfo;
  actions?: string[];
  notice?: string;
  selected?: Selection;
  details?: Record<string, any>;
  notebook_html?: string;
  phases?: Record<string, PhaseInfo>;
  nodes?: Record<string, NodeState>;
}

export interface VizModule {
  instance(): Promise<any>;
}

export interface GraphHost {
  select(task: string | null, node?: string | null): void;
  act(name: string, task: string | null): void;
  openNotebook(node: string | null): void;
  layout?(graph: unknown): void;
  loadViz?(): Promise<VizModule>;
  goToCell?(task: string, template: string): void;
}

export const PHASES: Record<string, PhaseInfo>;
export function provideViz(load: () => Promise<VizModule>): void;
export function hasVizProvider(): boolean;
export function vizInstance(fallback?: () => Promise<VizModule>): Promise<any>;
export function h(tag: string, attrs?: Record<string, any>, ...children: any[]): HTMLElement;
export function formatSeconds(seconds: number): string;
export function normalize(graph: any): Positions;
export function nodeLines(
  st: NodeState,
  n?: GraphNodeShape,
  phases?: Record<string, PhaseInfo>,
  now?: number
): { status: string; detail: string };

export class GraphView {
  constructor(el: HTMLElement, host: GraphHost, options?: { notebookLabel?: string });
  readonly el: HTMLElement;
  st: Required<GraphState>;
  set(part: GraphState): void;
  patch(nodes: Record<string, NodeState>): void;
  destroy(): void;
}
