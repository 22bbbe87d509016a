// Cell integration: a badge on each %%template / %%setup cell with its task's phase in the
// notebook's latest run (and whether the cell was edited since), and jumps between cells and
// graph nodes.
import type { Cell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { CommandRegistry } from '@lumino/commands';
import { IDisposable } from '@lumino/disposable';

import type { NodeState } from '../../nbflow/widget/static/graph.js';
import type { NbflowApi, RunGraph, RunSummary } from './api';
import { CommandIDs } from './commandids';
import { h } from './dom';
import type { NodesMessage, RunEvents } from './events';
import { phaseIcon } from './format';
import { CellMagic, cellMagic, editedSince, manifestName, RunCode, runCode } from './magic';

const WORST_FIRST = ['Failed', 'Error', 'Running', 'Pending', 'Succeeded', 'Skipped', 'Omitted'];

/** The phase shown for several tasks of one template: the one that needs attention first. */
export function worstPhase(phases: string[]): string | null {
  for (const phase of WORST_FIRST) if (phases.includes(phase)) return phase;
  return phases[0] ?? null;
}

/** The graph nodes (task ids) that run the template of the cell `magic`. */
export function tasksOfTemplate(graph: RunGraph, name: string): string[] {
  const wanted = manifestName(name);
  return graph.graph.nodes.filter((n) => n.template === wanted).map((n) => n.id);
}

export interface BadgeState {
  phase: string | null;
  text: string;
  title: string;
  edited: boolean | null;
  tasks: string[];
}

/** What the badge of a cell says, given the notebook's latest run (or none). */
export function badgeState(
  magic: CellMagic,
  run: RunSummary | null,
  graph: RunGraph | null,
  code: RunCode | null
): BadgeState {
  const what = magic.kind === 'template' ? `template ${magic.name}` : 'setup';
  if (!run || !graph) {
    return { phase: null, text: `${what} · not run yet`, title: 'no run of this notebook yet', edited: null, tasks: [] };
  }
  const edited = code ? editedSince(magic, code) : null;
  let phase: string | null;
  let tasks: string[] = [];
  if (magic.kind === 'template') {
    tasks = tasksOfTemplate(graph, magic.name);
    const states: NodeState[] = tasks.map((t) => graph.nodes[t]).filter(Boolean);
    phase = worstPhase(states.map((s) => s.phase));
  } else {
    phase = run.phase;
  }
  const parts = [`${phase ? phaseIcon(phase) + ' ' + phase.toLowerCase() : 'not in this run'}`];
  if (magic.kind === 'template' && tasks.length > 1) parts.push(`${tasks.length} tasks`);
  parts.push(`run ${run.id}`);
  if (edited) parts.push('edited since that run');
  const title = [
    `${what}: ${phase ?? 'not in the latest run'} in run ${run.id}`,
    tasks.length ? `tasks: ${tasks.join(', ')}` : '',
    edited ? 'The cell changed since that run: a retry would run the old code; rerun from it.' : '',
    'Click to show it in the run view.'
  ].filter(Boolean).join('\n');
  return { phase, text: parts.join(' · '), title, edited, tasks };
}

/** The badges of one notebook, following its latest run. */
export class CellBadges implements IDisposable {
  constructor(
    private readonly panel: NotebookPanel,
    private readonly api: NbflowApi,
    private readonly events: RunEvents,
    private readonly commands: CommandRegistry
  ) {
    events.runChanged.connect(this.onRun, this);
    events.nodesChanged.connect(this.onNodes, this);
    events.reconnected.connect(() => void this.load(), this);
    void panel.context.ready.then(() => {
      if (this.isDisposed) return;
      panel.context.pathChanged.connect(() => void this.load(), this);
      panel.context.fileChanged.connect(() => this.render(), this);
      panel.model?.contentChanged.connect(this.schedule, this);
      panel.content.modelChanged.connect(this.schedule, this);
      void this.load();
    });
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** The latest run of the notebook, once known. */
  get latest(): RunSummary | null {
    return this.run;
  }

  /** Find the notebook's latest run and its state; then follow it live. */
  async load(): Promise<void> {
    const path = this.panel.context.path;
    try {
      const page = await this.api.runs({ notebook: path, limit: 1 });
      await this.follow(page.runs[0] ?? null);
    } catch {
      // no nbflow server (or not reachable): no badges, nothing to follow
      this.render();
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearTimeout(this.timer);
    this.subscription?.dispose();
    this.events.runChanged.disconnect(this.onRun, this);
    this.events.nodesChanged.disconnect(this.onNodes, this);
    for (const cell of this.panel.content.widgets) cell.node.querySelector('.jp-nbflow-CellBadge')?.remove();
  }

  private async follow(run: RunSummary | null): Promise<void> {
    if (run && this.run && run.id === this.run.id && this.graph) {
      this.run = run;
      this.render();
      return;
    }
    this.subscription?.dispose();
    this.subscription = null;
    this.run = run;
    this.graph = null;
    this.code = null;
    if (run) {
      this.subscription = this.events.subscribe(run.id);
      const [graph, full] = await Promise.all([this.api.graph(run.id), this.api.run(run.id)]);
      if (this.run?.id !== run.id) return;
      this.graph = graph;
      this.code = runCode(full.workflow);
    }
    this.render();
  }

  private onRun(_: RunEvents, run: RunSummary): void {
    if (this.disposed || run.notebook !== this.panel.context.path) return;
    const current = this.run;
    const newer = !current || run.id === current.id || (run.startedAt ?? '') >= (current.startedAt ?? '');
    if (newer) void this.follow(run).catch(() => undefined);
  }

  private onNodes(_: RunEvents, msg: NodesMessage): void {
    if (!this.graph || !this.run || msg.run !== this.run.id) return;
    Object.assign(this.graph.nodes, msg.nodes);
    this.render();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.render(), 250);
  }

  /** Put the right badge on every cell (and take it off cells that lost their magic). */
  render(): void {
    if (this.disposed) return;
    for (const cell of this.panel.content.widgets) this.renderCell(cell);
  }

  private renderCell(cell: Cell): void {
    const old = cell.node.querySelector(':scope > .jp-nbflow-CellBadge');
    const magic = cell.model.type === 'code' ? cellMagic(cell.model.sharedModel.getSource()) : null;
    if (!magic || magic.kind === 'workflow' || (magic.kind === 'template' && !magic.name)) {
      old?.remove();
      return;
    }
    const state = badgeState(magic, this.run, this.graph, this.code);
    const badge = h(
      'div',
      {
        class: 'jp-nbflow-CellBadge',
        role: 'button',
        tabindex: 0,
        title: state.title,
        'data-phase': state.phase ?? '',
        'data-edited': state.edited ? 'true' : 'false',
        'data-template': magic.kind === 'template' ? magic.name : ''
      },
      state.text
    );
    const open = (ev: Event) => {
      ev.stopPropagation();
      if (!this.run) return;
      void this.commands.execute(CommandIDs.openRun, { id: this.run.id, task: state.tasks[0] ?? null });
    };
    badge.addEventListener('click', open);
    badge.addEventListener('keydown', (ev: KeyboardEvent) => {
      if (ev.key === 'Enter') open(ev);
    });
    if (old && old.outerHTML === badge.outerHTML) return;
    if (old) old.replaceWith(badge);
    else cell.node.insertBefore(badge, cell.node.querySelector(':scope > .jp-Cell-outputWrapper'));
  }

  private run: RunSummary | null = null;
  private graph: RunGraph | null = null;
  private code: RunCode | null = null;
  private subscription: IDisposable | null = null;
  private timer: any = undefined;
  private disposed = false;
}

/** Index of the cell that defines template `template` (its name or its manifest name). */
export function templateCellIndex(sources: string[], template: string): number {
  return sources.findIndex((source) => {
    const magic = cellMagic(source);
    return !!magic && magic.kind === 'template' && (magic.name === template || manifestName(magic.name) === template);
  });
}
