// The Schedules section of the Pipelines sidebar: every schedule of the server's nbflow home in
// words, with its next and last run, its actions (commands), and its history of runs. Kept
// current by the run events (a schedule's runs are `<name>-<unix seconds>`), by the changes made
// from this page, when a due time passes, and by a slow poll for changes made elsewhere.
import type { CommandRegistry } from '@lumino/commands';
import { ISignal, Signal } from '@lumino/signaling';

import type { RunSummary } from './api';
import { CommandIDs } from './commandids';
import { button, h, listKeys } from './dom';
import { ago, basename, isFinal, phaseIcon, until } from './format';
import type { ScheduleApi, ScheduleRun, ScheduleSummary } from './schedapi';
import { codeText, historyKey, lastRun, optionsText, scheduleOfRun, scheduleState, wallTime } from './schedtext';

/** The run events the section follows (RunEvents fits). */
export interface ScheduleEvents {
  runChanged: ISignal<any, RunSummary>;
  runDeleted: ISignal<any, string>;
  reconnected: ISignal<any, void>;
}

export interface SchedulesSectionOptions {
  schedules: ScheduleApi;
  events: ScheduleEvents;
  commands: Pick<CommandRegistry, 'execute'>;
  /** The notebook the sidebar shows (a new schedule is for it). */
  notebookPath: () => string | null;
  /** Whether the section can be seen (no polling while hidden). */
  isVisible: () => boolean;
  /** How often schedules are read again for changes made elsewhere (ms; 0: never). */
  pollMs?: number;
  /** How long several changes are gathered into one reload (ms). */
  batchMs?: number;
}

/** The section (its `node` goes into the sidebar). */
export class SchedulesSection {
  readonly node: HTMLElement;

  constructor(private readonly opts: SchedulesSectionOptions) {
    this.listEl = h('ul', { class: 'jp-nbflow-ScheduleList', role: 'list' });
    const add = button('+ New', 'jp-nbflow-new-schedule', () => this.run(CommandIDs.newSchedule, { path: opts.notebookPath() ?? '' }), {
      title: 'Schedule a notebook\'s workflow'
    });
    this.node = h(
      'section',
      { class: 'jp-nbflow-Schedules' },
      h('h3', { class: 'jp-nbflow-Sidebar-heading jp-nbflow-Schedules-heading' }, 'Schedules ', add),
      this.listEl
    );
    listKeys(this.listEl, '.jp-nbflow-ScheduleRun', (item) => this.openRun(item.dataset.run!));
    opts.schedules.changed.connect(() => this.reloadSoon(), this);
    opts.events.runChanged.connect((_, run) => this.runChanged(run), this);
    opts.events.runDeleted.connect((_, id) => this.runChanged({ id } as RunSummary), this);
    opts.events.reconnected.connect(() => void this.reload(), this);
    this.loadedAt = Date.now(); // the sidebar's start() reads them first
    this.ticker = window.setInterval(() => this.tick(), 1000);
    this.render();
  }

  get schedules(): readonly ScheduleSummary[] {
    return this.items;
  }

  history(name: string): readonly ScheduleRun[] {
    return this.histories.get(name) ?? [];
  }

  /**
   * Read the schedules again, and the histories that may have changed (all of them when
   * `full`): a history changes when the schedule fires or counts a finished run, and the run
   * events keep its runs' phases current in between.
   */
  async reload(full = true): Promise<void> {
    window.clearTimeout(this.pending);
    this.pending = 0;
    const token = ++this.generation;
    try {
      const { schedules } = await this.opts.schedules.list();
      const histories = await Promise.all(schedules.map((s) => this.historyOf(s, full)));
      if (token !== this.generation) return;
      this.items = schedules;
      this.histories = new Map(schedules.map((s, i) => [s.name, histories[i]]));
      this.keys = new Map(schedules.map((s) => [s.name, historyKey(s)]));
      this.error = '';
      this.loadedAt = Date.now();
    } catch (error) {
      if (token !== this.generation) return;
      this.error = (error as Error).message;
    }
    this.loaded = true;
    this.render();
  }

  private async historyOf(s: ScheduleSummary, full: boolean): Promise<ScheduleRun[]> {
    const known = this.histories.get(s.name);
    const settled = known && this.keys.get(s.name) === historyKey(s) && known.every((r) => r.deleted || isFinal(r.phase));
    if (settled && !full) return known;
    return this.opts.schedules.history(s.name).then((r) => r.runs, () => known ?? []);
  }

  /** Reload once several changes have come in. */
  reloadSoon(): void {
    if (this.pending) return;
    this.pending = window.setTimeout(() => void this.reload(false), this.opts.batchMs ?? 300);
  }

  /** Show or hide the history of `name`. */
  toggleHistory(name: string, open?: boolean): void {
    const show = open ?? !this.expanded.has(name);
    if (show) this.expanded.add(name);
    else this.expanded.delete(name);
    this.render();
  }

  dispose(): void {
    window.clearInterval(this.ticker);
    window.clearTimeout(this.pending);
    Signal.disconnectReceiver(this);
  }

  /** A run changed: a run of a schedule updates its history now, or makes the list reload. */
  private runChanged(run: RunSummary): void {
    const name = scheduleOfRun(run.id, this.items.map((s) => s.name));
    if (!name) return;
    const known = this.histories.get(name)?.find((r) => r.run === run.id);
    if (known && run.phase) {
      known.phase = run.phase;
      known.startedAt = run.startedAt ?? known.startedAt;
      known.finishedAt = run.finishedAt ?? known.finishedAt;
      this.render();
    } else this.reloadSoon();
  }

  private tick(): void {
    if (!this.opts.isVisible()) return;
    const now = Date.now();
    const due = this.items
      .map((s) => s.nextScheduledTime)
      .filter((t): t is string => !!t && Date.parse(t) + 2000 < now && !this.dueSeen.has(t));
    due.forEach((t) => this.dueSeen.add(t)); // once per due time, even if the reload fails
    const poll = this.opts.pollMs ?? 30000;
    if (due.length || (poll > 0 && now - this.loadedAt > poll)) {
      this.loadedAt = now;
      this.reloadSoon();
    }
    for (const el of Array.from(this.listEl.querySelectorAll<HTMLElement>('.jp-nbflow-Schedule-in'))) {
      el.textContent = until(el.dataset.time ?? null, now);
    }
  }

  private render(): void {
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.run;
    if (this.error) this.listEl.replaceChildren(h('li', { class: 'jp-nbflow-error' }, this.error));
    else if (!this.items.length) {
      this.listEl.replaceChildren(h('li', { class: 'jp-nbflow-muted' }, this.loaded ? 'No schedules yet.' : 'reading…'));
    } else this.listEl.replaceChildren(...this.items.map((s) => this.item(s)));
    if (focused) this.listEl.querySelector<HTMLElement>(`[data-run="${CSS.escape(focused)}"]`)?.focus();
  }

  private item(s: ScheduleSummary): HTMLElement {
    const state = scheduleState(s);
    const history = this.history(s.name);
    const open = this.expanded.has(s.name);
    return h(
      'li',
      { class: 'jp-nbflow-Schedule', 'data-schedule': s.name, 'data-state': state },
      h('div', { class: 'jp-nbflow-Schedule-head' },
        h('b', { class: 'jp-nbflow-Schedule-name' }, s.name),
        state !== 'active' ? h('span', { class: 'jp-nbflow-Schedule-state' }, state) : null),
      h('div', { class: 'jp-nbflow-Schedule-words', title: s.schedules.join('; ') }, s.description),
      h('div', { class: 'jp-nbflow-Schedule-target jp-nbflow-muted', title: s.notebook ?? '' },
        s.workflow ?? '', s.notebook ? ` · ${basename(s.notebook)}` : '',
        s.code ? h('span', { class: 'jp-nbflow-Schedule-code', 'data-code': s.code }, ` · ${codeText(s.code)}`) : null),
      this.when(s, state, lastRun(history)),
      h('div', { class: 'jp-nbflow-Schedule-options jp-nbflow-muted', title: [optionsText(s), ...s.parameters].join('\n') },
        optionsText(s), s.parameters.length ? ` · ${s.parameters.join(' ')}` : ''),
      this.actions(s, open, history.length),
      open ? this.historyList(history) : null
    );
  }

  /** The next run (wall time of the schedule's zone, and how far) and the last run's phase. */
  private when(s: ScheduleSummary, state: string, last: ScheduleRun | null): HTMLElement {
    const next = s.nextScheduledTime
      ? h('span', { class: 'jp-nbflow-Schedule-next', title: `${s.nextScheduledTime} (UTC)` }, 'next ',
          wallTime(s.nextScheduledTime, s.timezone), ' (',
          h('span', { class: 'jp-nbflow-Schedule-in', 'data-time': s.nextScheduledTime }, until(s.nextScheduledTime)), ')')
      : h('span', { class: 'jp-nbflow-Schedule-next' }, state === 'active' ? 'no next run' : `${state}: no next run`);
    const lastEl = last
      ? h('span', { class: 'jp-nbflow-Schedule-last', 'data-phase': last.phase, title: last.run },
          'last ', phaseIcon(last.phase), ' ', last.phase, last.scheduledTime ? ` · ${ago(last.scheduledTime)}` : '')
      : h('span', { class: 'jp-nbflow-Schedule-last jp-nbflow-muted' }, 'no run yet');
    return h('div', { class: 'jp-nbflow-Schedule-when' }, next, h('br'), lastEl);
  }

  private actions(s: ScheduleSummary, open: boolean, runs: number): HTMLElement {
    const cmd = (id: string) => () => this.run(id, { name: s.name });
    return h('div', { class: 'jp-nbflow-Schedule-actions' },
      s.suspended
        ? button('Resume', 'jp-nbflow-resume-schedule', cmd(CommandIDs.resumeSchedule), { title: 'Fire at the next due time again' })
        : button('Pause', 'jp-nbflow-pause-schedule', cmd(CommandIDs.pauseSchedule), { title: 'No run fires until resumed' }),
      button('Run now', 'jp-nbflow-run-schedule', cmd(CommandIDs.runScheduleNow), { title: 'Start a run now, outside the schedule' }),
      button(`${open ? '▾' : '▸'} History (${runs})`, 'jp-nbflow-schedule-history',
        () => this.toggleHistory(s.name), { 'aria-expanded': String(open) }),
      button('Delete', 'jp-nbflow-delete-schedule', cmd(CommandIDs.deleteSchedule), { title: 'Remove the schedule (its runs stay)' }));
  }

  private historyList(runs: readonly ScheduleRun[]): HTMLElement {
    if (!runs.length) return h('ul', { class: 'jp-nbflow-ScheduleHistory' }, h('li', { class: 'jp-nbflow-muted' }, 'No run yet.'));
    return h('ul', { class: 'jp-nbflow-ScheduleHistory', role: 'list' }, runs.map((r) => {
      const when = r.scheduledTime ?? r.firedAt;
      const el = h('li', {
        class: 'jp-nbflow-ScheduleRun', 'data-run': r.run, 'data-phase': r.phase,
        tabindex: r.deleted ? null : 0, role: 'button', title: `${r.run}${when ? `\nscheduled ${when}` : ''}`
      },
      h('span', { class: 'jp-nbflow-RunItem-icon' }, phaseIcon(r.phase)), ' ',
      h('span', { class: 'jp-nbflow-ScheduleRun-id' }, r.run), ' ',
      h('span', { class: 'jp-nbflow-ScheduleRun-phase jp-nbflow-muted' }, r.deleted ? 'deleted' : r.phase),
      when ? h('span', { class: 'jp-nbflow-muted' }, ` · ${ago(when)}`) : '');
      if (!r.deleted) el.addEventListener('click', () => this.openRun(r.run));
      return el;
    }));
  }

  private openRun(id: string): void {
    this.run(CommandIDs.openRun, { id });
  }

  private run(id: string, args: Record<string, string>): void {
    void this.opts.commands.execute(id, args);
  }

  private items: ScheduleSummary[] = [];
  private histories = new Map<string, ScheduleRun[]>();
  private keys = new Map<string, string>();
  private expanded = new Set<string>();
  private dueSeen = new Set<string>();
  private error = '';
  private loaded = false;
  private loadedAt = 0;
  private generation = 0;
  private pending = 0;
  private ticker: number;
  private listEl: HTMLElement;
}
