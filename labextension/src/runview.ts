// The run view in the main area: the widget's graph (the shared renderer), live, with the
// details pane and the run's actions going through the server.
import { IDisposable } from '@lumino/disposable';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { GraphView } from '../../nbflow/widget/static/graph.js';
import type { Action, NbflowApi, RunGraph, RunSummary } from './api';
import { button, h, markPainted } from './dom';
import type { NodesMessage, RunEvents } from './events';
import { offeredActions } from './actions';
import { basename } from './format';

export interface RunViewHost {
  /** Open the executed notebook of a node in a tab. */
  openNotebook(run: string, task: string, node: string | null): void;
  /** Show the cell of `template` in the run's notebook. */
  goToCell(notebook: string, template: string): void;
  /** Open the run's own notebook. */
  openSource(notebook: string): void;
  /** The run's summary when the page already has it (the sidebar's list), to spare a request
   * for the whole Workflow object of a large run. */
  knownSummary?(run: string): RunSummary | undefined;
}

/** One run, drawn live. */
export class RunView extends Widget {
  constructor(
    private readonly api: NbflowApi,
    private readonly events: RunEvents,
    private readonly host: RunViewHost,
    runId: string
  ) {
    super();
    this.addClass('jp-nbflow-RunView');
    this.title.closable = true;
    this.title.iconClass = 'jp-nbflow-RunView-icon';
    this.bar = h('div', { class: 'jp-nbflow-RunView-bar' });
    const canvas = h('div', { class: 'jp-nbflow-RunView-graph' });
    this.node.append(this.bar, canvas);
    this.node.tabIndex = -1;
    this.view = new GraphView(
      canvas,
      {
        select: (task, node) => void this.select(task, node ?? null),
        act: (name, task) => void this.act(name as Action, task),
        openNotebook: (node) => this.openNotebook(node),
        goToCell: (_task, template) => {
          if (this.summary?.notebook) this.host.goToCell(this.summary.notebook, template);
        }
      },
      { notebookLabel: 'Open executed notebook' }
    );
    events.nodesChanged.connect(this.onNodes, this);
    events.runChanged.connect(this.onRun, this);
    events.reconnected.connect(() => void this.reload(), this);
    this.setRun(runId);
  }

  get runId(): string {
    return this._runId;
  }

  /** The drawing (for tests and the commands). */
  get graphView(): GraphView {
    return this.view;
  }

  /** Resolves once the first state is drawn (or failed to load). */
  get ready(): Promise<void> {
    return this._ready;
  }

  /** Show run `id` from now on (after an action started a new run, say). */
  setRun(id: string): void {
    this.subscription?.dispose();
    this._runId = id;
    this.id = `nbflow-run-${id}`;
    this.title.label = `Run ${id}`;
    this.title.caption = `nbflow run ${id}`;
    this.graph = null;
    this.summary = null;
    this.view.set({ selected: {}, details: {}, notice: '', info: { id } });
    this.subscription = this.events.subscribe(id);
    performance.mark(`nbflow-run-open:${id}`);
    this._ready = this.reload().then(() => {
      if (this.graph && id === this._runId) markPainted(`nbflow-run-painted:${id}`);
    });
  }

  /** Load everything again from the server. */
  async reload(): Promise<void> {
    const id = this._runId;
    try {
      const known = this.host.knownSummary?.(id);
      const [graph, summary] = await Promise.all([
        this.api.graph(id),
        known ? Promise.resolve(known) : this.api.run(id).then((r) => r.summary)
      ]);
      if (id !== this._runId) return;
      this.graph = graph;
      this.summary = summary;
      const { graph: shape, nodes, info, positions, dot } = graph;
      this.view.set({ graph: shape, nodes, info, positions, dot, ...(graph.phases ? { phases: graph.phases } : {}) });
      this.node.dataset.phase = info.phase ?? '';
      this.renderBar();
      this.refreshActions();
      const sel = this.view.st.selected;
      if (sel && sel.task) await this.select(sel.task, sel.node ?? null);
    } catch (error) {
      if (id === this._runId) this.view.set({ notice: (error as Error).message });
    }
  }

  /** Select graph node `task` (or its status node `node`) and show its details. */
  async select(task: string | null, node: string | null = null): Promise<void> {
    this.view.set({ selected: task ? { task, node } : {} });
    this.refreshActions();
    if (!task) return;
    const id = this._runId;
    try {
      const details = await this.api.details(id, task, node);
      const sel = this.view.st.selected;
      if (id === this._runId && sel.task === task && (sel.node ?? null) === node) {
        this.view.set({ details });
      }
    } catch (error) {
      this.view.set({ details: { task, node, phase: '', message: `no details: ${(error as Error).message}` } });
    }
  }

  /** Do `action` on the run through the server; follow the run that goes on. */
  async act(action: Action, task: string | null): Promise<void> {
    this.view.set({ notice: '' });
    try {
      const result = await this.api.act(this._runId, action, { task });
      if (result.id && result.id !== this._runId) this.setRun(result.id);
      else await this.reload();
    } catch (error) {
      this.view.set({ notice: `${action}: ${(error as Error).message}` });
    }
  }

  dispose(): void {
    if (this.isDisposed) return;
    this.subscription?.dispose();
    this.view.destroy();
    this.events.nodesChanged.disconnect(this.onNodes, this);
    this.events.runChanged.disconnect(this.onRun, this);
    super.dispose();
  }

  protected onActivateRequest(msg: Message): void {
    const focus = this.node.querySelector<HTMLElement>('.nbflow-selected') ?? this.node;
    focus.focus();
  }

  private openNotebook(node: string | null): void {
    const task = this.view.st.selected.task;
    if (task) this.host.openNotebook(this._runId, task, node);
  }

  private onNodes(_: RunEvents, msg: NodesMessage): void {
    if (msg.run !== this._runId || !this.graph) return;
    if (msg.full) this.view.set({ nodes: msg.nodes });
    else this.view.patch(msg.nodes);
    Object.assign(this.graph.nodes, msg.nodes);
    const sel = this.view.st.selected;
    if (sel.task && sel.task in msg.nodes) void this.select(sel.task, sel.node ?? null);
  }

  private onRun(_: RunEvents, run: RunSummary): void {
    if (run.id !== this._runId) return;
    const before = this.summary;
    this.summary = run;
    const info = { ...this.view.st.info, phase: run.phase, message: run.message };
    this.view.set({ info });
    this.node.dataset.phase = run.phase;
    this.refreshActions();
    this.renderBar();
    if (!before || before.phase !== run.phase || before.live !== run.live) void this.reload();
  }

  private refreshActions(): void {
    this.view.set({ actions: offeredActions(this.summary, this.graph) });
  }

  private renderBar(): void {
    const run = this.summary;
    if (!run) return;
    const notebook = run.notebook;
    const parts = [
      h('span', { class: 'jp-nbflow-muted' }, `workflow ${run.workflow}`),
      run.live ? h('span', { class: 'jp-nbflow-live', title: 'updated live' }, '● live') : null,
      notebook
        ? button(`Open ${basename(notebook)}`, 'jp-nbflow-open-source', () => this.host.openSource(notebook), { title: notebook })
        : null,
      button('⟳', 'jp-nbflow-reload', () => void this.reload(), { title: 'reload' })
    ];
    this.bar.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
  }

  private view: GraphView;
  private bar: HTMLElement;
  private graph: RunGraph | null = null;
  private summary: RunSummary | null = null;
  private subscription: IDisposable | null = null;
  private _runId = '';
  private _ready: Promise<void> = Promise.resolve();
}
