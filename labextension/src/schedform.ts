// The schedule form: notebook and workflow, cron with the server's reading of it (words and the
// next 5 times, as `nbflow schedule describe` gives them), time zone, policy, deadline, history
// limits, parameters, follow-file or frozen snapshot. Plain DOM: scheddialog.ts puts it in a
// dialog.
import { h } from './dom';
import type { Described } from './schedapi';
import { cronList, POLICIES, ScheduleFormValues, wallTime } from './schedtext';

export interface ScheduleFormOptions {
  values: ScheduleFormValues;
  /** The server's reading of a schedule (GET schedules/describe). */
  describe: (schedules: string[], timezone: string) => Promise<Described>;
  /** The workflows of a notebook, to choose from (absent: the workflow is typed). */
  workflows?: (notebook: string) => Promise<string[]>;
  /** The notebook and workflow are given (the Schedule button of a workflow). */
  fixedTarget?: boolean;
  /** A problem to show (the server refused the last try). */
  error?: string;
  /** Time zones offered (default: the browser's list). */
  zones?: string[];
  /** How long typing must pause before the server is asked (ms). */
  debounceMs?: number;
}

const POLICY_TEXT: Record<string, string> = {
  Allow: 'Allow: start another one',
  Forbid: 'Forbid: skip this time',
  Replace: 'Replace: stop it, start anew'
};

function input(name: string, value: string, attrs: Record<string, unknown> = {}): HTMLInputElement {
  const el = h('input', { class: `jp-nbflow-sf-${name}`, name, 'aria-label': name, ...attrs }) as HTMLInputElement;
  el.value = value;
  return el;
}

function row(label: string, ...fields: (Node | string | null)[]): HTMLElement {
  return h('label', { class: 'jp-nbflow-ScheduleForm-row' }, h('span', { class: 'jp-nbflow-ScheduleForm-label' }, label), ...fields);
}

function zoneList(): string[] {
  const intl = Intl as any;
  try {
    return typeof intl.supportedValuesOf === 'function' ? intl.supportedValuesOf('timeZone') : [];
  } catch {
    return [];
  }
}

/** The form: its `node`, and `getValue()`, what it holds. */
export class ScheduleForm {
  readonly node: HTMLElement = h('div', { class: 'jp-nbflow-ScheduleForm' });

  constructor(private readonly opts: ScheduleFormOptions) {
    const v = opts.values;
    this.notebookEl = input('notebook', v.notebook, { placeholder: 'path/to/notebook.ipynb', size: 30 });
    this.workflowEl = input('workflow', v.workflow, { placeholder: 'the only one', list: 'jp-nbflow-sf-workflows' });
    this.workflowsList = h('datalist', { id: 'jp-nbflow-sf-workflows' });
    this.nameEl = input('name', v.name, { placeholder: 'default: the workflow\'s name' });
    this.cronEl = input('cron', v.cron, { placeholder: '0 2 * * *', spellcheck: 'false', autocomplete: 'off' });
    this.zoneEl = input('timezone', v.timezone, { list: 'jp-nbflow-sf-zones', placeholder: 'UTC' });
    const zones = h('datalist', { id: 'jp-nbflow-sf-zones' }, (opts.zones ?? zoneList()).map((z) => h('option', { value: z })));
    this.policyEl = h('select', { class: 'jp-nbflow-sf-policy', name: 'concurrencyPolicy', 'aria-label': 'concurrency policy' },
      POLICIES.map((p) => h('option', { value: p }, POLICY_TEXT[p]))) as HTMLSelectElement;
    this.policyEl.value = v.concurrencyPolicy;
    this.deadlineEl = input('deadline', v.startingDeadline, {
      placeholder: 'no limit', inputmode: 'numeric', size: 8,
      title: 'startingDeadlineSeconds: a time missed while no scheduler ran still runs if this late at most'
    });
    this.keepOkEl = input('keep-succeeded', v.keepSucceeded, { placeholder: '3', inputmode: 'numeric', size: 3 });
    this.keepBadEl = input('keep-failed', v.keepFailed, { placeholder: '1', inputmode: 'numeric', size: 3 });
    this.paramsEl = h('textarea', { class: 'jp-nbflow-sf-parameters', name: 'parameters', 'aria-label': 'parameters', rows: 3, placeholder: 'n_rows=1000' }) as HTMLTextAreaElement;
    this.paramsEl.value = v.parameters;
    const radio = (value: string, label: string, title: string) => {
      const el = h('input', { type: 'radio', name: 'code', value, class: `jp-nbflow-sf-code-${value}` }) as HTMLInputElement;
      el.checked = v.code === value;
      this.codeEls.push(el);
      return h('label', { title }, el, ` ${label}`);
    };
    this.suspendEl = h('input', { type: 'checkbox', class: 'jp-nbflow-sf-suspend' }) as HTMLInputElement;
    this.suspendEl.checked = v.suspend;
    this.wordsEl = h('div', { class: 'jp-nbflow-ScheduleForm-words', 'aria-live': 'polite' });
    this.nextEl = h('ol', { class: 'jp-nbflow-ScheduleForm-next' });
    this.errorEl = h('div', { class: 'jp-nbflow-ScheduleForm-error jp-nbflow-error' }, opts.error ?? '');
    const target = opts.fixedTarget
      ? [h('div', { class: 'jp-nbflow-ScheduleForm-target' }, h('b', {}, v.workflow || '(the only workflow)'), ` of ${v.notebook}`)]
      : [row('Notebook', this.notebookEl), row('Workflow', this.workflowEl, this.workflowsList)];
    this.node.append(
      ...target,
      row('Name', this.nameEl),
      row('Schedule', this.cronEl),
      h('div', { class: 'jp-nbflow-muted jp-nbflow-ScheduleForm-hint' },
        'minute hour day month weekday (several: separate with ;), @daily, @every 2h'),
      row('Time zone', this.zoneEl, zones),
      h('div', { class: 'jp-nbflow-ScheduleForm-reading' }, this.wordsEl, this.nextEl),
      row('If a run is going', this.policyEl),
      row('Late start up to', this.deadlineEl, ' s after a missed time'),
      row('Runs kept', this.keepOkEl, ' succeeded ', this.keepBadEl, ' failed'),
      row('Parameters', this.paramsEl),
      h('fieldset', { class: 'jp-nbflow-ScheduleForm-code' }, h('legend', {}, 'Code each run uses'),
        radio('follow', 'the notebook file as it is at each run', 'edits to the notebook apply to later runs'),
        radio('snapshot', 'a frozen snapshot taken now', 'later edits do not change what runs')),
      h('label', { class: 'jp-nbflow-ScheduleForm-row' }, this.suspendEl, ' start paused'),
      this.errorEl
    );
    for (const el of [this.cronEl, this.zoneEl]) el.addEventListener('input', () => this.schedule());
    this.notebookEl.addEventListener('change', () => void this.loadWorkflows());
    this.ready = this.refresh();
    void this.loadWorkflows();
  }

  /** The reading shown once the server answered the latest question. */
  ready: Promise<void>;

  getValue(): ScheduleFormValues {
    return {
      notebook: this.notebookEl.value,
      workflow: this.workflowEl.value,
      name: this.nameEl.value,
      cron: this.cronEl.value,
      timezone: this.zoneEl.value,
      concurrencyPolicy: this.policyEl.value,
      startingDeadline: this.deadlineEl.value,
      keepSucceeded: this.keepOkEl.value,
      keepFailed: this.keepBadEl.value,
      parameters: this.paramsEl.value,
      code: (this.codeEls.find((el) => el.checked)?.value as 'follow' | 'snapshot') ?? 'follow',
      suspend: this.suspendEl.checked
    };
  }

  /** The server's last reading: words and next times (null: none, or a bad schedule). */
  get reading(): Described | null {
    return this._reading;
  }

  dispose(): void {
    window.clearTimeout(this.timer);
  }

  /** Focus the first field to fill. */
  focus(): void {
    (this.opts.fixedTarget || this.notebookEl.value ? this.cronEl : this.notebookEl).focus();
  }

  /** Ask the server again once typing pauses. */
  private schedule(): void {
    window.clearTimeout(this.timer);
    this.ready = new Promise((resolve) => {
      this.timer = window.setTimeout(() => void this.refresh().then(resolve), this.opts.debounceMs ?? 250);
    });
  }

  /** Ask the server how it reads the schedule; show its words and next 5 times. */
  async refresh(): Promise<void> {
    const crons = cronList(this.cronEl.value);
    const zone = this.zoneEl.value.trim();
    const token = ++this.generation;
    if (!crons.length) {
      this.showReading(null, '');
      return;
    }
    this.wordsEl.classList.add('jp-mod-pending');
    try {
      const described = await this.opts.describe(crons, zone);
      if (token === this.generation) this.showReading(described, '');
    } catch (error) {
      if (token === this.generation) this.showReading(null, (error as Error).message);
    }
  }

  private showReading(described: Described | null, problem: string): void {
    this._reading = described;
    this.wordsEl.classList.remove('jp-mod-pending');
    this.wordsEl.classList.toggle('jp-nbflow-error', !!problem);
    this.wordsEl.textContent = described ? described.text : problem;
    const zone = this.zoneEl.value.trim() || 'UTC';
    this.nextEl.replaceChildren(
      ...(described?.next ?? []).map((t) => h('li', { 'data-time': t, title: `${t} (UTC)` }, wallTime(t, zone)))
    );
    this.node.dataset.state = described ? 'ok' : problem ? 'error' : 'empty';
  }

  private async loadWorkflows(): Promise<void> {
    const path = this.notebookEl.value.trim();
    if (!this.opts.workflows || this.opts.fixedTarget || !path) return;
    try {
      const names = await this.opts.workflows(path);
      if (path !== this.notebookEl.value.trim()) return;
      this.workflowsList.replaceChildren(...names.map((n) => h('option', { value: n })));
      if (!this.workflowEl.value && names.length === 1) this.workflowEl.value = names[0];
    } catch {
      this.workflowsList.replaceChildren();
    }
  }

  private generation = 0;
  private timer = 0;
  private _reading: Described | null = null;
  private codeEls: HTMLInputElement[] = [];
  private notebookEl: HTMLInputElement;
  private workflowEl: HTMLInputElement;
  private workflowsList: HTMLElement;
  private nameEl: HTMLInputElement;
  private cronEl: HTMLInputElement;
  private zoneEl: HTMLInputElement;
  private policyEl: HTMLSelectElement;
  private deadlineEl: HTMLInputElement;
  private keepOkEl: HTMLInputElement;
  private keepBadEl: HTMLInputElement;
  private paramsEl: HTMLTextAreaElement;
  private suspendEl: HTMLInputElement;
  private wordsEl: HTMLElement;
  private nextEl: HTMLElement;
  private errorEl: HTMLElement;
}
