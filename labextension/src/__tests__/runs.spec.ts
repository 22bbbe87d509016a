import type { RunQuery, RunSummary } from '../api';
import { finishMessage, matches, newerFirst, outcome, PAGE_SIZE, RunList } from '../runs';

function run(id: string, extra: Partial<RunSummary> = {}): RunSummary {
  return {
    id,
    workflow: 'quickstart',
    phase: 'Running',
    message: '',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: null,
    duration_s: null,
    notebook: 'notebooks/quickstart.ipynb',
    backend: 'local',
    progress: '1/5',
    live: true,
    ...extra
  };
}

/** A server with `n` runs, one a minute, newest first; it records the queries. */
function server(n: number) {
  const all = Array.from({ length: n }, (_, i) =>
    run(`r${i}`, { startedAt: new Date(Date.UTC(2026, 0, 1, 0, n - i)).toISOString(), phase: i % 3 ? 'Succeeded' : 'Failed' })
  );
  const queries: RunQuery[] = [];
  return {
    queries,
    async runs(q: RunQuery) {
      queries.push(q);
      const hits = all.filter((r) => matches(r, q));
      const start = q.offset ?? 0;
      return { runs: hits.slice(start, start + (q.limit ?? 50)), total: hits.length };
    }
  };
}

describe('RunList', () => {
  it('loads a page, then the next one, without duplicates', async () => {
    const api = server(120);
    const list = new RunList(api);
    await list.reload();
    expect(list.runs.length).toBe(PAGE_SIZE);
    expect(list.total).toBe(120);
    list.update(run('new', { startedAt: '2026-02-01T00:00:00Z' }));
    await list.more();
    expect(list.runs[0].id).toBe('new');
    expect(new Set(list.runs.map((r) => r.id)).size).toBe(list.runs.length);
    expect(api.queries[1]).toMatchObject({ offset: PAGE_SIZE + 1, limit: PAGE_SIZE });
  });

  it('keeps to its filter as runs change', async () => {
    const list = new RunList(server(10));
    await list.reload({ phase: 'Failed' });
    const failed = list.runs.length;
    expect(list.runs.every((r) => r.phase === 'Failed')).toBe(true);
    list.update(run('live-1', { phase: 'Running', startedAt: '2026-03-01T00:00:00Z' }));
    expect(list.runs.length).toBe(failed); // not a failed run: not shown
    list.update({ ...list.runs[0], phase: 'Succeeded' }); // retried: leaves the list
    expect(list.runs.length).toBe(failed - 1);
    list.update(run('live-1', { phase: 'Failed', startedAt: '2026-03-01T00:00:00Z' }));
    expect(list.runs[0].id).toBe('live-1');
  });

  it('says why it has no runs when the server fails', async () => {
    const list = new RunList({ runs: () => Promise.reject(new Error('no nbflow server here')) });
    let changes = 0;
    list.changed.connect(() => changes++);
    await list.reload();
    expect(list.error).toBe('no nbflow server here');
    expect(changes).toBe(1);
  });

  it('forgets deleted runs', async () => {
    const list = new RunList(server(3));
    await list.reload();
    list.remove('r1');
    expect(list.runs.map((r) => r.id)).toEqual(['r0', 'r2']);
    expect(list.total).toBe(2);
  });
});

describe('ordering and outcomes', () => {
  it('puts runs not started yet first, then the newest', () => {
    const runs = [run('a', { startedAt: '2026-01-01T00:00:00Z' }), run('b', { startedAt: null }), run('c', { startedAt: '2026-01-02T00:00:00Z' })];
    expect(runs.sort(newerFirst).map((r) => r.id)).toEqual(['b', 'c', 'a']);
  });

  it('notifies for runs seen running or started since the page loaded', () => {
    const since = Date.parse('2026-01-01T00:00:00Z');
    const done = run('a', { phase: 'Succeeded' });
    expect(outcome(run('a'), done, since)).toBe('succeeded');
    expect(outcome(run('a'), run('a', { phase: 'Error' }), since)).toBe('failed');
    expect(outcome(undefined, done, since)).toBe('succeeded');
    expect(outcome(undefined, run('a', { phase: 'Failed', startedAt: '2025-12-01T00:00:00Z' }), since)).toBeNull();
    expect(outcome(done, done, since)).toBeNull();
    expect(outcome(done, { ...done, progress: '4/4' }, since)).toBeNull();
    const failed = run('a', { phase: 'Failed', finishedAt: '2026-01-01T00:01:00Z' });
    const again = { ...failed, finishedAt: '2026-01-01T00:02:00Z' }; // retried, failed again
    expect(outcome(failed, again, since)).toBe('failed');
    expect(outcome(undefined, run('a'), since)).toBeNull();
  });

  it('says how a run ended', () => {
    expect(finishMessage(run('q-1', { phase: 'Succeeded', duration_s: 12 }))).toBe(
      'Run q-1 of quickstart (quickstart.ipynb) succeeded in 12s'
    );
    expect(finishMessage(run('q-2', { phase: 'Failed', duration_s: 3, message: "child 'boom' failed", notebook: null }))).toBe(
      "Run q-2 of quickstart failed in 3s: child 'boom' failed"
    );
  });
});
