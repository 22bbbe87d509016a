// The sidebar's list of runs: pages from the server, kept current by the run events.
import { ISignal, Signal } from '@lumino/signaling';

import type { NbflowApi, RunQuery, RunSummary } from './api';
import { basename, isFinal, runDuration } from './format';

export const PAGE_SIZE = 50;

/** Whether `run` passes `filter` (the same fields as the server's query). */
export function matches(run: RunSummary, filter: RunQuery): boolean {
  if (filter.workflow && run.workflow !== filter.workflow) return false;
  if (filter.phase && run.phase !== filter.phase) return false;
  if (filter.notebook && run.notebook !== filter.notebook) return false;
  return true;
}

/** Newest first: by start time, runs not started yet on top, then by id. */
export function newerFirst(a: RunSummary, b: RunSummary): number {
  const ta = a.startedAt ? Date.parse(a.startedAt) : Infinity;
  const tb = b.startedAt ? Date.parse(b.startedAt) : Infinity;
  if (ta !== tb) return ta < tb ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * What a change of a run means to the user: it just finished well or badly, or nothing. A run
 * seen final with another end time ended again (a retry or resume whose running phase fell
 * between two batched updates); one not seen before counts when it started since `since`.
 */
export function outcome(
  before: RunSummary | undefined,
  after: RunSummary,
  since: number
): 'succeeded' | 'failed' | null {
  if (!isFinal(after.phase)) return null;
  if (before && isFinal(before.phase) && before.finishedAt === after.finishedAt) return null;
  if (!before && !startedSince(after, since)) return null;
  return after.phase === 'Succeeded' ? 'succeeded' : 'failed';
}

/** The notification's text for a run that just ended. */
export function finishMessage(run: RunSummary): string {
  const where = run.notebook ? ` (${basename(run.notebook)})` : '';
  const took = runDuration(run);
  const verb = run.phase === 'Succeeded' ? 'succeeded' : run.phase === 'Error' ? 'ended in error' : 'failed';
  const why = run.phase !== 'Succeeded' && run.message ? `: ${run.message}` : '';
  return `Run ${run.id} of ${run.workflow}${where} ${verb}${took ? ` in ${took}` : ''}${why}`;
}

function startedSince(run: RunSummary, since: number): boolean {
  const t = run.startedAt ? Date.parse(run.startedAt) : NaN;
  return !Number.isNaN(t) && t >= since - 5000;
}

/**
 * The runs shown: the first pages of the server's list for a filter, plus every run that
 * the events announce and that passes the filter.
 */
export class RunList {
  constructor(private readonly api: Pick<NbflowApi, 'runs'>) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get runs(): readonly RunSummary[] {
    return this._runs;
  }

  /** How many runs pass the filter on the server (at least those shown). */
  get total(): number {
    return Math.max(this._total, this._runs.length);
  }

  get filter(): RunQuery {
    return this._filter;
  }

  get error(): string {
    return this._error;
  }

  get(id: string): RunSummary | undefined {
    return this._byId.get(id);
  }

  /** Load the first page for `filter` (the current one by default). */
  async reload(filter: RunQuery = this._filter): Promise<void> {
    this._filter = { ...filter };
    const token = ++this._generation;
    try {
      const page = await this.api.runs({ ...this._filter, limit: PAGE_SIZE, offset: 0 });
      if (token !== this._generation) return;
      this._byId = new Map(page.runs.map((r) => [r.id, r]));
      this._runs = [...page.runs];
      this._total = page.total;
      this._error = '';
    } catch (error) {
      if (token !== this._generation) return;
      this._error = (error as Error).message;
    }
    this._changed.emit();
  }

  /** Load the next page. */
  async more(): Promise<void> {
    const token = this._generation;
    const page = await this.api.runs({
      ...this._filter,
      limit: PAGE_SIZE,
      offset: this._runs.length
    });
    if (token !== this._generation) return;
    for (const run of page.runs) {
      if (!this._byId.has(run.id)) this._runs.push(run);
      this._byId.set(run.id, run);
    }
    this._total = page.total;
    this._changed.emit();
  }

  /** Take a run summary from the events; return the summary it replaces, if any. */
  update(run: RunSummary): RunSummary | undefined {
    const before = this._byId.get(run.id);
    const keep = matches(run, this._filter);
    if (before) {
      const at = this._runs.findIndex((r) => r.id === run.id);
      if (keep) {
        this._runs[at] = run;
        this._byId.set(run.id, run);
      } else {
        this._runs.splice(at, 1);
        this._byId.delete(run.id);
        this._total -= 1;
      }
    } else if (keep) {
      this._byId.set(run.id, run);
      this._runs.push(run);
      this._runs.sort(newerFirst);
      this._total += 1;
    }
    if (before || keep) this._changed.emit();
    return before;
  }

  /** Forget a deleted run. */
  remove(id: string): void {
    if (!this._byId.delete(id)) return;
    this._runs = this._runs.filter((r) => r.id !== id);
    this._total -= 1;
    this._changed.emit();
  }

  private _runs: RunSummary[] = [];
  private _byId = new Map<string, RunSummary>();
  private _total = 0;
  private _filter: RunQuery = {};
  private _error = '';
  private _generation = 0;
  private _changed = new Signal<this, void>(this);
}
