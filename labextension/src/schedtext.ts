// Pure helpers of the Schedules section and form: times shown in a schedule's zone, the form's
// values as a POST schedules body, which schedule a run belongs to. (Cron is read only by the
// server, with the same code as `nbflow schedule describe`.)
import type { ScheduleBody, ScheduleRun, ScheduleSummary } from './schedapi';
import { parseParameters } from './format';

export const POLICIES = ['Allow', 'Forbid', 'Replace'] as const;
export const NOTIFY_ON = ['failure', 'success', 'always'] as const;

/** Argo's (and nbflow's) default history limits: succeeded runs kept, failed runs kept. */
const HISTORY_DEFAULTS: [number, number] = [3, 1];

/** What the schedule form holds (every field as typed). */
export interface ScheduleFormValues {
  notebook: string;
  workflow: string;
  name: string;
  /** One cron expression, or several separated by `;` (ORed, as Argo's `schedules`). */
  cron: string;
  timezone: string;
  concurrencyPolicy: string;
  startingDeadline: string;
  keepSucceeded: string;
  keepFailed: string;
  /** `name=value` lines. */
  parameters: string;
  code: 'follow' | 'snapshot';
  suspend: boolean;
  /** Notification targets (`email:ADDR[,ADDR]`, `webhook:NAME`, `slack:NAME`), space-separated. */
  notify: string;
  notifyOn: string;
}

/** An empty form for `notebook` / `workflow`, in the browser's time zone. */
export function emptyForm(notebook = '', workflow = '', timezone = browserZone()): ScheduleFormValues {
  return {
    notebook,
    workflow,
    name: '',
    cron: '',
    timezone,
    concurrencyPolicy: 'Allow',
    startingDeadline: '',
    keepSucceeded: '',
    keepFailed: '',
    parameters: '',
    code: 'follow',
    suspend: false,
    notify: '',
    notifyOn: 'failure'
  };
}

/** The browser's IANA time zone, or UTC. */
function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** The cron expressions of the form's field (`;`-separated; blanks dropped). */
export function cronList(text: string): string[] {
  return text
    .split(/[;\n]/)
    .map((s) => s.trim().replace(/\s+/g, ' '))
    .filter(Boolean);
}

const NAME = /^[a-z0-9][-a-z0-9]*$/;

function whole(text: string, label: string): number | undefined {
  const t = text.trim();
  if (!t) return undefined;
  if (!/^\d+$/.test(t)) throw new Error(`${label}: expected a whole number of 0 or more, got "${t}"`);
  return Number(t);
}

/** The POST schedules body of the form's values; throws one line naming the bad field. */
export function scheduleBody(values: ScheduleFormValues): ScheduleBody {
  const notebook = values.notebook.trim();
  if (!notebook) throw new Error('notebook: which notebook should run?');
  const schedules = cronList(values.cron);
  if (!schedules.length) throw new Error('schedule: a cron expression is needed, e.g. 0 2 * * *');
  const name = values.name.trim();
  if (name && !NAME.test(name)) {
    throw new Error(`name: "${name}" must be lower-case letters, digits and dashes`);
  }
  if (!(POLICIES as readonly string[]).includes(values.concurrencyPolicy)) {
    throw new Error(`concurrency policy: one of ${POLICIES.join(', ')}`);
  }
  let parameters: Record<string, string>;
  try {
    parameters = parseParameters(values.parameters);
  } catch (error) {
    throw new Error(`parameters: ${(error as Error).message}`);
  }
  const body: ScheduleBody = { notebook, schedules, code: values.code };
  const optional: Partial<ScheduleBody> = {
    workflow: values.workflow.trim() || undefined,
    name: name || undefined,
    timezone: values.timezone.trim() || undefined,
    concurrencyPolicy: values.concurrencyPolicy === 'Allow' ? undefined : values.concurrencyPolicy,
    startingDeadlineSeconds: whole(values.startingDeadline, 'starting deadline'),
    successfulJobsHistoryLimit: whole(values.keepSucceeded, 'succeeded runs kept'),
    failedJobsHistoryLimit: whole(values.keepFailed, 'failed runs kept'),
    parameters: Object.keys(parameters).length ? parameters : undefined,
    suspend: values.suspend || undefined,
    notify: notifyOf(values)
  };
  for (const [k, v] of Object.entries(optional)) {
    if (v !== undefined) (body as any)[k] = v;
  }
  return body;
}

/** The `notify` of a POST schedules body (the server checks the targets), if any. */
function notifyOf(values: ScheduleFormValues): ScheduleBody['notify'] {
  const targets = values.notify.split(/\s+/).filter(Boolean);
  if (!targets.length) return undefined;
  if (!(NOTIFY_ON as readonly string[]).includes(values.notifyOn)) {
    throw new Error(`notify on: one of ${NOTIFY_ON.join(', ')}`);
  }
  return { targets, on: values.notifyOn };
}

/** Who a schedule notifies, and when: `notifies slack:team, email:a@b.c on failure`. */
export function notifyText(notify: unknown): string {
  const n = notify as { targets?: { kind: string; to?: string[]; name?: string }[]; on?: string } | null;
  if (!n || !n.targets?.length) return '';
  const targets = n.targets.map((t) => `${t.kind}:${t.to ? t.to.join(',') : t.name}`);
  return `notifies ${targets.join(', ')} on ${n.on ?? 'failure'}`;
}

const PARTS: Intl.DateTimeFormatOptions = {
  weekday: 'short',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23'
};

/** `iso` (an instant) as the wall time of zone `tz`: `Tue 2026-12-08 02:00`. */
export function wallTime(iso: string, tz: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-GB', { ...PARTS, timeZone: tz || 'UTC' }).formatToParts(t);
  } catch {
    parts = new Intl.DateTimeFormat('en-GB', { ...PARTS, timeZone: 'UTC' }).formatToParts(t);
  }
  const p = Object.fromEntries(parts.map((x) => [x.type, x.value]));
  return `${p.weekday} ${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** The schedule (among `names`) that fired run `runId` (`<name>-<unix seconds>`), or null. */
export function scheduleOfRun(runId: string, names: Iterable<string>): string | null {
  const m = /^(.+)-(\d+)$/.exec(runId);
  if (!m) return null;
  for (const name of names) if (name === m[1]) return name;
  return null;
}

/** What changes when a schedule's history does (a fire, a run counted as finished). */
export function historyKey(
  s: Pick<ScheduleSummary, 'lastScheduledTime' | 'active' | 'succeeded' | 'failed'>
): string {
  return JSON.stringify([s.lastScheduledTime, s.active, s.succeeded, s.failed]);
}

/** The newest run of a history (newest first) that is still kept, if any. */
export function lastRun(history: readonly ScheduleRun[] | null | undefined): ScheduleRun | null {
  return (history ?? []).find((r) => !r.deleted) ?? null;
}

/** A schedule's state in one word: `paused`, `stopped` or `active`. */
export function scheduleState(s: Pick<ScheduleSummary, 'suspended' | 'phase'>): string {
  if (s.suspended) return 'paused';
  if (s.phase === 'Stopped') return 'stopped';
  return 'active';
}

/** Which code the schedule's runs use, in words. */
export function codeText(code: string | null): string {
  if (code === 'snapshot') return 'frozen snapshot (taken when scheduled)';
  if (code === 'follow') return 'follows the notebook file';
  return '';
}

/** The options line of a schedule: policy, deadline, history limits. */
export function optionsText(s: ScheduleSummary): string {
  const parts = [`policy ${s.concurrencyPolicy}`];
  if (s.startingDeadlineSeconds !== null && s.startingDeadlineSeconds !== undefined) {
    parts.push(`deadline ${s.startingDeadlineSeconds}s`);
  }
  const [ok, bad] = s.history ?? HISTORY_DEFAULTS;
  parts.push(`keeps ${ok} succeeded / ${bad} failed`);
  const notify = notifyText(s.notify);
  if (notify) parts.push(notify);
  return parts.join(' · ');
}
