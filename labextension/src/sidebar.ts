// The Pipelines sidebar: the open notebook's workflows with their actions, and every run, live.
import { CommandRegistry } from '@lumino/commands';
import { Widget } from '@lumino/widgets';

import type { NbflowApi, NotebookWorkflow, RunSummary } from './api';
import { CommandIDs } from './commandids';
import { button, h, listKeys, markPainted } from './dom';
import { ago, basename, phaseIcon, runDuration } from './format';
import type { RunEvents } from './events';
import { RunList } from './runs';
import { schedulesOf } from './schedapi';
import { SchedulesSection } from './schedules';

const PHASE_CHOICES = ['', 'Running', 'Pending', 'Succeeded', 'Failed', 'Error'];

export interface SidebarOptions {
  api: NbflowApi;
  events: RunEvents;
  runs: RunList;
  commands: CommandRegistry;
}

/** The sidebar's panel. */
export class PipelinesSidebar extends Widget {
  constructor(private readonly opts: SidebarOptions) {
    super();
    this.schedules = new SchedulesSection({
      schedules: schedulesOf(opts.api),
      events: opts.events,
      commands: opts.commands,
      notebookPath: () => this.path,
      isVisible: () => this.isVisible
    });
    this.id = 'nbflow-pipelines';
    this.addClass('jp-nbflow-Sidebar');
    this.title.caption = 'Pipelines (nbflow)';
    this.notebookEl = h('div', { class: 'jp-nbflow-Sidebar-notebook' });
    this.listEl = h('ul', { class: 'jp-nbflow-RunList', role: 'list' });
    this.countEl = h('div', { class: 'jp-nbflow-Sidebar-count' });
    this.moreEl = button('Load more', 'jp-nbflow-more', () => void this.more());
    this.phaseEl = h(
      'select',
      { class: 'jp-nbflow-filter-phase', title: 'phase', 'aria-label': 'phase' },
      PHASE_CHOICES.map((p) => h('option', { value: p }, p || 'every phase'))
    ) as HTMLSelectElement;
    this.workflowEl = h('input', {
      class: 'jp-nbflow-filter-workflow',
      placeholder: 'workflow',
      'aria-label': 'workflow',
      size: 10
    }) as HTMLInputElement;
    this.mineEl = h('input', { type: 'checkbox', class: 'jp-nbflow-filter-mine' }) as HTMLInputElement;
    const filters = h(
      'div',
      { class: 'jp-nbflow-Sidebar-filters' },
      this.phaseEl,
      this.workflowEl,
      h('label', { title: 'only the runs of the open notebook' }, this.mineEl, ' this notebook')
    );
    for (const el of [this.phaseEl, this.workflowEl, this.mineEl]) {
      el.addEventListener('change', () => void this.refilter());
    }
    this.node.append(
      h('h2', { class: 'jp-nbflow-Sidebar-title' }, 'Pipelines'),
      this.notebookEl,
      this.schedules.node,
      h('h3', { class: 'jp-nbflow-Sidebar-heading' }, 'Runs'),
      filters,
      this.listEl,
      this.countEl,
      this.moreEl
    );
    listKeys(this.listEl, '.jp-nbflow-RunItem', (item) => this.open(item.dataset.run!));
    opts.runs.changed.connect(this.renderRuns, this);
    opts.events.runChanged.connect((_, run) => opts.runs.update(run), this);
    opts.events.runDeleted.connect((_, id) => opts.runs.remove(id), this);
    opts.events.reconnected.connect(() => void opts.runs.reload(), this);
    this.renderNotebook();
    this.ticker = window.setInterval(() => this.tick(), 1000);
  }

  /** The first page of runs; then live. */
  async start(): Promise<void> {
    performance.mark('nbflow-sidebar-start');
    this.opts.events.start();
    await Promise.all([this.opts.runs.reload(), this.schedules.reload()]);
  }

  /** Show the workflows of the notebook at `path` (null: no notebook is open). */
  async setNotebook(path: string | null): Promise<void> {
    if (path === this.path) return;
    this.path = path;
    this.workflows = null;
    this.notebookError = '';
    this.renderNotebook();
    if (this.mineEl.checked) void this.refilter();
    if (!path) return;
    try {
      const { workflows } = await this.opts.api.workflows(path);
      if (this.path === path) this.workflows = workflows;
    } catch (error) {
      if (this.path === path) this.notebookError = (error as Error).message;
    }
    if (this.path === path) this.renderNotebook();
  }

  /** Read the open notebook's workflows again (after it was saved). */
  async reloadNotebook(): Promise<void> {
    const path = this.path;
    this.path = null;
    await this.setNotebook(path);
  }

  get notebookPath(): string | null {
    return this.path;
  }

  get notebookWorkflows(): NotebookWorkflow[] {
    return this.workflows ?? [];
  }

  /** The Schedules section. */
  readonly schedules: SchedulesSection;

  dispose(): void {
    this.schedules.dispose();
    window.clearInterval(this.ticker);
    super.dispose();
  }

  private renderNotebook(): void {
    const path = this.path;
    if (!path) {
      this.notebookEl.replaceChildren(h('div', { class: 'jp-nbflow-muted' }, 'No notebook is open.'));
      return;
    }
    const head = h('h3', { class: 'jp-nbflow-Sidebar-heading', title: path }, basename(path));
    if (this.notebookError) {
      this.notebookEl.replaceChildren(head, h('div', { class: 'jp-nbflow-error' }, this.notebookError));
      return;
    }
    if (this.workflows === null) {
      this.notebookEl.replaceChildren(head, h('div', { class: 'jp-nbflow-muted' }, 'reading…'));
      return;
    }
    if (!this.workflows.length) {
      this.notebookEl.replaceChildren(
        head,
        h('div', { class: 'jp-nbflow-muted' }, 'No %%workflow cell in this notebook (saved version).')
      );
      return;
    }
    const cmd = (id: string, workflow: string) => () =>
      void this.opts.commands.execute(id, { path, workflow });
    const rows = this.workflows.map((wf) =>
      h(
        'li',
        { class: 'jp-nbflow-Workflow', 'data-workflow': wf.name },
        h('div', {}, h('b', {}, wf.name), ' ', h('span', { class: 'jp-nbflow-muted' }, `${wf.tasks.length} tasks`),
          wf.schedule ? h('span', { class: 'jp-nbflow-muted' }, ` · ${wf.schedule}`) : null),
        h(
          'div',
          { class: 'jp-nbflow-Workflow-actions' },
          button('▶ Run', 'jp-nbflow-run', cmd(CommandIDs.runWorkflow, wf.name), { title: 'Run without a kernel (Accel Alt R)' }),
          button('Compile', 'jp-nbflow-compile', cmd(CommandIDs.compile, wf.name), { title: 'Argo manifest' }),
          button('Lint', 'jp-nbflow-lint', cmd(CommandIDs.lint, wf.name)),
          button('Schedule', 'jp-nbflow-schedule', cmd(CommandIDs.schedule, wf.name))
        )
      )
    );
    this.notebookEl.replaceChildren(head, h('ul', { class: 'jp-nbflow-Workflows' }, rows));
  }

  private renderRuns(): void {
    const runs = this.opts.runs;
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.run;
    if (runs.error) {
      this.listEl.replaceChildren(h('li', { class: 'jp-nbflow-error' }, runs.error));
    } else if (!runs.runs.length) {
      this.listEl.replaceChildren(h('li', { class: 'jp-nbflow-muted' }, 'No runs yet.'));
    } else {
      this.listEl.replaceChildren(...runs.runs.map((r) => this.runItem(r)));
    }
    this.countEl.textContent = runs.runs.length ? `${runs.runs.length} of ${runs.total} runs` : '';
    if (!this.painted && runs.runs.length) {
      this.painted = true;
      markPainted('nbflow-sidebar-painted');
    }
    this.moreEl.hidden = runs.runs.length >= runs.total;
    if (focused) this.listEl.querySelector<HTMLElement>(`[data-run="${CSS.escape(focused)}"]`)?.focus();
  }

  private runItem(run: RunSummary): HTMLElement {
    const title = [run.id, run.message].filter(Boolean).join('\n');
    const item = h(
      'li',
      {
        class: 'jp-nbflow-RunItem',
        'data-run': run.id,
        'data-phase': run.phase,
        tabindex: 0,
        role: 'button',
        title
      },
      h('span', { class: 'jp-nbflow-RunItem-icon' }, phaseIcon(run.phase)),
      h(
        'span',
        { class: 'jp-nbflow-RunItem-main' },
        h('span', { class: 'jp-nbflow-RunItem-id' }, run.id),
        h(
          'span',
          { class: 'jp-nbflow-RunItem-meta' },
          h('span', { class: 'jp-nbflow-RunItem-phase' }, run.phase),
          run.progress ? ` ${run.progress}` : '',
          run.notebook ? h('span', { class: 'jp-nbflow-RunItem-notebook', title: run.notebook }, ` · ${basename(run.notebook)}`) : '',
          run.backend === 'argo' ? ' · cluster' : ''
        )
      ),
      h(
        'span',
        { class: 'jp-nbflow-RunItem-time' },
        h('span', { class: 'jp-nbflow-RunItem-duration' }, runDuration(run)),
        h('span', { class: 'jp-nbflow-RunItem-ago' }, ago(run.startedAt))
      )
    );
    item.addEventListener('click', () => this.open(run.id));
    return item;
  }

  private tick(): void {
    if (!this.isVisible) return;
    for (const el of Array.from(this.listEl.querySelectorAll<HTMLElement>('.jp-nbflow-RunItem[data-phase="Running"]'))) {
      const run = this.opts.runs.get(el.dataset.run!);
      const span = el.querySelector('.jp-nbflow-RunItem-duration');
      if (run && span) span.textContent = runDuration(run);
    }
  }

  private open(id: string): void {
    void this.opts.commands.execute(CommandIDs.openRun, { id });
  }

  private async more(): Promise<void> {
    try {
      await this.opts.runs.more();
    } catch (error) {
      this.countEl.textContent = (error as Error).message;
    }
  }

  private refilter(): Promise<void> {
    return this.opts.runs.reload({
      phase: this.phaseEl.value || undefined,
      workflow: this.workflowEl.value.trim() || undefined,
      notebook: this.mineEl.checked && this.path ? this.path : undefined
    });
  }

  private painted = false;
  private path: string | null = null;
  private workflows: NotebookWorkflow[] | null = null;
  private notebookError = '';
  private ticker: number;
  private notebookEl: HTMLElement;
  private listEl: HTMLElement;
  private countEl: HTMLElement;
  private moreEl: HTMLElement;
  private phaseEl: HTMLSelectElement;
  private workflowEl: HTMLInputElement;
  private mineEl: HTMLInputElement;
}

export { RunList };
