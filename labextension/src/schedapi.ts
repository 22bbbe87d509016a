// The schedules routes of the nbflow server (nbflow/api/schedules, see nbflow/server/API.md).
import { ISignal, Signal } from '@lumino/signaling';

import type { NbflowApi } from './api';

/** One schedule as the server lists it (ScheduleSummary). */
export interface ScheduleSummary {
  name: string;
  backend: string;
  schedules: string[];
  timezone: string;
  /** The schedule in words, e.g. "every day at 02:00, Europe/Paris" (the server's reading). */
  description: string;
  concurrencyPolicy: string;
  startingDeadlineSeconds: number | null;
  /** Runs kept: [succeeded, failed]. */
  history: [number, number];
  suspended: boolean;
  phase: string;
  code: 'follow' | 'snapshot' | string | null;
  notebook: string | null;
  workflow: string | null;
  sha256: string | null;
  parameters: string[];
  notify: unknown;
  lastScheduledTime: string | null;
  /** Null while paused. */
  nextScheduledTime: string | null;
  active: string[];
  succeeded: number;
  failed: number;
}

/** GET schedules/{name}: the summary, its CronWorkflow and its next 5 times. */
export interface ScheduleDetails extends ScheduleSummary {
  cronWorkflow: Record<string, any>;
  next: string[];
}

/** One run a schedule fired (GET schedules/{name}/history). */
export interface ScheduleRun {
  run: string;
  phase: string;
  scheduledTime: string | null;
  firedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  deleted: boolean;
}

/** A schedule in words and its next times (GET schedules/describe). */
export interface Described {
  text: string;
  next: string[];
}

/** The body of POST schedules. */
export interface ScheduleBody {
  notebook: string;
  schedules: string[];
  workflow?: string;
  name?: string;
  timezone?: string;
  concurrencyPolicy?: string;
  startingDeadlineSeconds?: number;
  successfulJobsHistoryLimit?: number;
  failedJobsHistoryLimit?: number;
  parameters?: Record<string, string>;
  code?: 'follow' | 'snapshot';
  suspend?: boolean;
  notify?: { targets: string[]; on: string };
  replace?: boolean;
}

export type ScheduleAction = 'pause' | 'resume' | 'run-now';

const seg = encodeURIComponent;

/**
 * The schedules API of one server. Every change made through it is announced by `changed`
 * (with the schedule's name), so that all views of the page refresh.
 */
export class ScheduleApi {
  constructor(readonly api: Pick<NbflowApi, 'request'>) {}

  get changed(): ISignal<this, string> {
    return this._changed;
  }

  list(): Promise<{ schedules: ScheduleSummary[] }> {
    return this.api.request('schedules');
  }

  get(name: string): Promise<ScheduleDetails> {
    return this.api.request(`schedules/${seg(name)}`);
  }

  history(name: string): Promise<{ runs: ScheduleRun[] }> {
    return this.api.request(`schedules/${seg(name)}/history`);
  }

  /** The words and next `count` times of `schedules` in `timezone`, read by the server. */
  describe(schedules: string[], timezone?: string, count = 5): Promise<Described> {
    const query = schedules.map((c) => `cron=${seg(c)}`);
    if (timezone) query.push(`timezone=${seg(timezone)}`);
    query.push(`count=${count}`);
    return this.api.request(`schedules/describe?${query.join('&')}`);
  }

  async create(body: ScheduleBody): Promise<ScheduleSummary> {
    const made = await this.api.request<ScheduleSummary>('schedules', {
      method: 'POST',
      body: JSON.stringify(body)
    });
    this._changed.emit(made.name);
    return made;
  }

  async patch(name: string, changes: Record<string, unknown>): Promise<ScheduleSummary> {
    const out = await this.api.request<ScheduleSummary>(`schedules/${seg(name)}`, {
      method: 'PATCH',
      body: JSON.stringify(changes)
    });
    this._changed.emit(name);
    return out;
  }

  /** Pause or resume (the summary), or run now (`{run}`). */
  async act(name: string, action: ScheduleAction): Promise<ScheduleSummary & { run?: string }> {
    const out = await this.api.request<any>(`schedules/${seg(name)}/actions/${seg(action)}`, {
      method: 'POST',
      body: '{}'
    });
    this._changed.emit(name);
    return out;
  }

  async remove(name: string): Promise<void> {
    await this.api.request(`schedules/${seg(name)}`, { method: 'DELETE' });
    this._changed.emit(name);
  }

  private _changed = new Signal<this, string>(this);
}

const shared = new WeakMap<object, ScheduleApi>();

/** The one ScheduleApi of `api` (the page's views share its `changed` signal). */
export function schedulesOf(api: Pick<NbflowApi, 'request'>): ScheduleApi {
  let out = shared.get(api);
  if (!out) {
    out = new ScheduleApi(api);
    shared.set(api, out);
  }
  return out;
}
