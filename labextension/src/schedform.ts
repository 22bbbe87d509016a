// The schedule form: notebook and workflow, cron with the server's reading of it (words and the
// next 5 times, as `nbflow schedule describe` gives them), time zone, policy, deadline, history
// limits, parameters, follow-file or frozen snapshot. Plain DOM: scheddialog.ts puts it in a
// dialog.
import { h } from './dom';
import type { Described } from './schedapi';
import { cronList, NOTIFY_ON, POLICIES, ScheduleFormValues, wallTime } from './schedtext';

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

/** The form's fields, filled with `v`. */
function makeFields(v: ScheduleFormValues) {
  const textarea = h('textarea', {
    class: 'jp-nbflow-sf-parameters', name: 'parameters', 'aria-label': 'parameters', rows: 3, placeholder: 'n_rows=1000'
  }) as HTMLTextAreaElement;
  textarea.value = v.parameters;
  const policy = h('select', { class: 'jp-nbflow-sf-policy', name: 'concurrencyPolicy', 'aria-label': 'concurrency policy' },
    POLICIES.map((p) => h('option', { value: p }, POLICY_TEXT[p]))) as HTMLSelectElement;
  policy.value = v.concurrencyPolicy;
  const notifyOn = h('select', { class: 'jp-nbflow-sf-notify-on', 'aria-label': 'notify on' },
    NOTIFY_ON.map((w) => h('option', { value: w }, `on ${w}`))) as HTMLSelectElement;
  notifyOn.value = v.notifyOn;
  const suspend = h('input', { type: 'checkbox', class: 'jp-nbflow-sf-suspend' }) as HTMLInputElement;
  suspend.checked = v.suspend;
  const code = (['follow', 'snapshot'] as const).map((value) => {
    const el = h('input', { type: 'radio', name: 'code', value, class: `jp-nbflow-sf-code-${value}` }) as HTMLInputElement;
    el.checked = v.code === value;
    return el;
  });
  return {
    notebook: input('notebook', v.notebook, { placeholder: 'path/to/notebook.ipynb', size: 30 }),
    workflow: input('workflow', v.workflow, { placeholder: 'the only one', list: 'jp-nbflow-sf-workflows' }),
    name: input('name', v.name, { placeholder: 'default: the workflow\'s name' }),
    cron: input('cron', v.cron, { placeholder: '0 2 * * *', spellcheck: 'false', autocomplete: 'off' }),
    timezone: input('timezone', v.timezone, { list: 'jp-nbflow-sf-zones', placeholder: 'UTC' }),
    policy,
    deadline: input('deadline', v.startingDeadline, {
      placeholder: 'no limit', inputmode: 'numeric', size: 8,
      title: 'startingDeadlineSeconds: a time missed while no scheduler ran still runs if this late at most'
    }),
    keepOk: input('keep-succeeded', v.keepSucceeded, { placeholder: '3', inputmode: 'numeric', size: 3 }),
    keepBad: input('keep-failed', v.keepFailed, { placeholder: '1', inputmode: 'numeric', size: 3 }),
    parameters: textarea,
    code,
    suspend,
    notify: input('notify', v.notify, {
      placeholder: 'email:me@example.com slack:team',
      title: 'email:ADDRESS[,ADDRESS], webhook:NAME or slack:NAME (configured channels), space-separated'
    }),
    notifyOn
  };
}

/** The form: its `node`, and `getValue()`, what it holds. */
export class ScheduleForm {
  readonly node: HTMLElement = h('div', { class: 'jp-nbflow-ScheduleForm' });

  constructor(private readonly opts: ScheduleFormOptions) {
    this.f = makeFields(opts.values);
    this.workflowsList = h('datalist', { id: 'jp-nbflow-sf-workflows' });
    this.wordsEl = h('div', { class: 'jp-nbflow-ScheduleForm-words', 'aria-live': 'polite' });
    this.nextEl = h('ol', { class: 'jp-nbflow-ScheduleForm-next' });
    this.layout();
    for (const el of [this.f.cron, this.f.timezone]) el.addEventListener('input', () => this.schedule());
    this.f.notebook.addEventListener('change', () => void this.loadWorkflows());
    this.ready = this.refresh();
    void this.loadWorkflows();
  }

  /** The reading shown once the server answered the latest question. */
  ready: Promise<void>;

  getValue(): ScheduleFormValues {
    const f = this.f;
    return {
      notebook: f.notebook.value,
      workflow: f.workflow.value,
      name: f.name.value,
      cron: f.cron.value,
      timezone: f.timezone.value,
      concurrencyPolicy: f.policy.value,
      startingDeadline: f.deadline.value,
      keepSucceeded: f.keepOk.value,
      keepFailed: f.keepBad.value,
      parameters: f.parameters.value,
      code: (f.code.find((el) => el.checked)?.value as 'follow' | 'snapshot') ?? 'follow',
      suspend: f.suspend.checked,
      notify: f.notify.value,
      notifyOn: f.notifyOn.value
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
    (this.opts.fixedTarget || this.f.notebook.value ? this.f.cron : this.f.notebook).focus();
  }

  private layout(): void {
    const { f, opts } = this;
    const v = opts.values;
    const zones = h('datalist', { id: 'jp-nbflow-sf-zones' }, (opts.zones ?? zoneList()).map((z) => h('option', { value: z })));
    const radio = (el: HTMLInputElement, label: string, title: string) => h('label', { title }, el, ` ${label}`);
    const target = opts.fixedTarget
      ? [h('div', { class: 'jp-nbflow-ScheduleForm-target' }, h('b', {}, v.workflow || '(the only workflow)'), ` of ${v.notebook}`)]
      : [row('Notebook', f.notebook), row('Workflow', f.workflow, this.workflowsList)];
    this.node.append(
      ...target,
      row('Name', f.name),
      row('Schedule', f.cron),
      h('div', { class: 'jp-nbflow-muted jp-nbflow-ScheduleForm-hint' },
        'minute hour day month weekday (several: separate with ;), @daily, @every 2h'),
      row('Time zone', f.timezone, zones),
      h('div', { class: 'jp-nbflow-ScheduleForm-reading' }, this.wordsEl, this.nextEl),
      row('If a run is going', f.policy),
      row('Late start up to', f.deadline, ' s after a missed time'),
      row('Runs kept', f.keepOk, ' succeeded ', f.keepBad, ' failed'),
      row('Parameters', f.parameters),
      row('Notify', f.notify, f.notifyOn),
      h('fieldset', { class: 'jp-nbflow-ScheduleForm-code' }, h('legend', {}, 'Code each run uses'),
        radio(f.code[0], 'the notebook file as it is at each run', 'edits to the notebook apply to later runs'),
        radio(f.code[1], 'a frozen snapshot taken now', 'later edits do not change what runs')),
      h('label', { class: 'jp-nbflow-ScheduleForm-row' }, f.suspend, ' start paused'),
      h('div', { class: 'jp-nbflow-ScheduleForm-error jp-nbflow-error' }, opts.error ?? '')
    );
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
    const crons = cronList(this.f.cron.value);
    const zone = this.f.timezone.value.trim();
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
    const zone = this.f.timezone.value.trim() || 'UTC';
    this.nextEl.replaceChildren(
      ...(described?.next ?? []).map((t) => h('li', { 'data-time': t, title: `${t} (UTC)` }, wallTime(t, zone)))
    );
    this.node.dataset.state = described ? 'ok' : problem ? 'error' : 'empty';
  }

  private async loadWorkflows(): Promise<void> {
    const path = this.f.notebook.value.trim();
    if (!this.opts.workflows || this.opts.fixedTarget || !path) return;
    try {
      const names = await this.opts.workflows(path);
      if (path !== this.f.notebook.value.trim()) return;
      this.workflowsList.replaceChildren(...names.map((n) => h('option', { value: n })));
      if (!this.f.workflow.value && names.length === 1) this.f.workflow.value = names[0];
    } catch {
      this.workflowsList.replaceChildren();
    }
  }

  private generation = 0;
  private timer = 0;
  private _reading: Described | null = null;
  private f: ReturnType<typeof makeFields>;
  private workflowsList: HTMLElement;
  private wordsEl: HTMLElement;
  private nextEl: HTMLElement;
}
