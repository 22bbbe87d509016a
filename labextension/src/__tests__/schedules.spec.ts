import { Signal } from '@lumino/signaling';

import type { RunSummary } from '../api';
import { ApiError } from '../http';
import { ScheduleApi, schedulesOf, ScheduleRun, ScheduleSummary } from '../schedapi';
import { ScheduleForm } from '../schedform';
import { SchedulesSection } from '../schedules';
import {
  codeText,
  cronList,
  historyKey,
  emptyForm,
  lastRun,
  notifyText,
  optionsText,
  scheduleBody,
  scheduleOfRun,
  scheduleState,
  wallTime
} from '../schedtext';

function summary(name: string, extra: Partial<ScheduleSummary> = {}): ScheduleSummary {
  return {
    name,
    backend: 'local',
    schedules: ['0 2 * * *'],
    timezone: 'Europe/Paris',
    description: 'every day at 02:00, Europe/Paris',
    concurrencyPolicy: 'Allow',
    startingDeadlineSeconds: null,
    history: [3, 1],
    suspended: false,
    phase: 'Active',
    code: 'follow',
    notebook: '/root/nb/nightly.ipynb',
    workflow: 'nightly',
    sha256: 'abc',
    parameters: [],
    notify: null,
    lastScheduledTime: null,
    nextScheduledTime: '2026-12-08T01:00:00Z',
    active: [],
    succeeded: 0,
    failed: 0,
    ...extra
  };
}

function fired(run: string, phase: string, extra: Partial<ScheduleRun> = {}): ScheduleRun {
  return {
    run,
    phase,
    scheduledTime: '2026-12-07T01:00:00Z',
    firedAt: '2026-12-07T01:00:00Z',
    startedAt: null,
    finishedAt: null,
    deleted: false,
    ...extra
  };
}

/** A fake server: the requests it got, answers by path. */
function fakeRequest(answers: Record<string, unknown>) {
  const calls: { path: string; init?: RequestInit }[] = [];
  return {
    calls,
    async request<T>(path: string, init?: RequestInit): Promise<T> {
      calls.push({ path, init });
      const key = `${init?.method ?? 'GET'} ${path.split('?')[0]}`;
      if (!(key in answers)) throw new ApiError(`no route ${key}`, 404);
      const value = answers[key];
      if (value instanceof Error) throw value;
      return (typeof value === 'function' ? value(path, init) : value) as T;
    }
  };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('schedule text', () => {
  it('splits cron lists', () => {
    expect(cronList(' 0 2 * * * ;30  14 * * 1-5\n')).toEqual(['0 2 * * *', '30 14 * * 1-5']);
    expect(cronList(' ; ')).toEqual([]);
  });

  it('turns the form into a POST body, leaving defaults out', () => {
    const values = { ...emptyForm('nb/a.ipynb', 'etl', 'Europe/Paris'), cron: '0 2 * * *' };
    expect(scheduleBody(values)).toEqual({
      notebook: 'nb/a.ipynb',
      workflow: 'etl',
      schedules: ['0 2 * * *'],
      timezone: 'Europe/Paris',
      code: 'follow'
    });
    const full = {
      ...values,
      name: 'etl-paris',
      concurrencyPolicy: 'Forbid',
      startingDeadline: '600',
      keepSucceeded: '5',
      keepFailed: '0',
      parameters: 'day=yesterday\n# a comment\nn=3',
      code: 'snapshot' as const,
      suspend: true,
      notify: ' email:a@b.c,d@e.f  slack:team ',
      notifyOn: 'always'
    };
    expect(scheduleBody(full)).toEqual({
      notebook: 'nb/a.ipynb',
      workflow: 'etl',
      schedules: ['0 2 * * *'],
      name: 'etl-paris',
      timezone: 'Europe/Paris',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 600,
      successfulJobsHistoryLimit: 5,
      failedJobsHistoryLimit: 0,
      parameters: { day: 'yesterday', n: '3' },
      code: 'snapshot',
      suspend: true,
      notify: { targets: ['email:a@b.c,d@e.f', 'slack:team'], on: 'always' }
    });
  });

  it('names the bad field in one line', () => {
    const ok = { ...emptyForm('a.ipynb', '', 'UTC'), cron: '@daily' };
    expect(() => scheduleBody({ ...ok, cron: ' ' })).toThrow(/^schedule: a cron expression is needed/);
    expect(() => scheduleBody({ ...ok, notebook: '' })).toThrow(/^notebook:/);
    expect(() => scheduleBody({ ...ok, name: 'Nightly_1' })).toThrow(/^name: "Nightly_1" must be lower-case/);
    expect(() => scheduleBody({ ...ok, startingDeadline: '-5' })).toThrow(/^starting deadline: expected a whole number/);
    expect(() => scheduleBody({ ...ok, keepFailed: '1.5' })).toThrow(/^failed runs kept:/);
    expect(() => scheduleBody({ ...ok, parameters: 'oops' })).toThrow(/^parameters: line 1: expected name=value/);
    expect(() => scheduleBody({ ...ok, concurrencyPolicy: 'Sometimes' })).toThrow(/^concurrency policy:/);
    expect(() => scheduleBody({ ...ok, notify: 'slack:team', notifyOn: 'never' })).toThrow(/^notify on:/);
    expect(scheduleBody({ ...ok, notifyOn: 'never' }).notify).toBeUndefined(); // no target: no notify
  });

  it('shows instants as wall times of the schedule\'s zone, across DST', () => {
    // 02:00 in Paris is 01:00Z in winter and 00:00Z in summer
    expect(wallTime('2026-12-08T01:00:00Z', 'Europe/Paris')).toBe('Tue 2026-12-08 02:00');
    expect(wallTime('2026-07-01T00:00:00Z', 'Europe/Paris')).toBe('Wed 2026-07-01 02:00');
    expect(wallTime('2026-12-08T01:00:00Z', 'UTC')).toBe('Tue 2026-12-08 01:00');
    expect(wallTime('2026-12-08T01:00:00Z', 'Not/AZone')).toBe('Tue 2026-12-08 01:00');
    expect(wallTime('soon', 'UTC')).toBe('soon');
  });

  it('knows which schedule fired a run', () => {
    const names = ['nightly', 'nightly-paris'];
    expect(scheduleOfRun('nightly-paris-1796612786', names)).toBe('nightly-paris');
    expect(scheduleOfRun('nightly-1796612786', names)).toBe('nightly');
    expect(scheduleOfRun('nightly-abcde', names)).toBeNull();
    expect(scheduleOfRun('weekly-1796612786', names)).toBeNull();
  });

  it('describes state, code, options and the last run', () => {
    expect(scheduleState({ suspended: true, phase: 'Active' })).toBe('paused');
    expect(scheduleState({ suspended: false, phase: 'Stopped' })).toBe('stopped');
    expect(scheduleState({ suspended: false, phase: 'Active' })).toBe('active');
    expect(codeText('snapshot')).toMatch(/frozen snapshot/);
    expect(codeText('follow')).toMatch(/follows the notebook/);
    expect(optionsText(summary('a', { concurrencyPolicy: 'Replace', startingDeadlineSeconds: 60, history: [5, 2] })))
      .toBe('policy Replace · deadline 60s · keeps 5 succeeded / 2 failed');
    expect(lastRun([fired('a-2', 'Running', { deleted: true }), fired('a-1', 'Failed')])?.run).toBe('a-1');
    expect(lastRun([])).toBeNull();
    const notify = { targets: [{ kind: 'email', to: ['a@b.c', 'd@e.f'] }, { kind: 'slack', name: 'team' }], on: 'failure', attach: false };
    expect(notifyText(notify)).toBe('notifies email:a@b.c,d@e.f, slack:team on failure');
    expect(notifyText(null)).toBe('');
    expect(optionsText(summary('a', { notify }))).toBe('policy Allow · keeps 3 succeeded / 1 failed · ' + notifyText(notify));
    expect(historyKey(summary('a'))).toBe(historyKey(summary('b', { phase: 'Stopped' })));
    expect(historyKey(summary('a'))).not.toBe(historyKey(summary('a', { failed: 1 })));
  });
});

describe('ScheduleApi', () => {
  it('asks the describe route with every cron, and announces changes', async () => {
    const fake = fakeRequest({
      'GET schedules/describe': { text: 'every day at 02:00, UTC', next: [] },
      'POST schedules': { name: 'made' },
      'POST schedules/a%20b/actions/run-now': { run: 'a b-1' },
      'DELETE schedules/x': null
    });
    const api = new ScheduleApi(fake);
    const changed: string[] = [];
    api.changed.connect((_, name) => changed.push(name));
    await api.describe(['0 2 * * *', '@hourly'], 'Europe/Paris', 5);
    expect(fake.calls[0].path).toBe(
      'schedules/describe?cron=0%202%20*%20*%20*&cron=%40hourly&timezone=Europe%2FParis&count=5'
    );
    await api.create({ notebook: 'a.ipynb', schedules: ['@daily'] });
    expect(JSON.parse(String(fake.calls[1].init?.body))).toEqual({ notebook: 'a.ipynb', schedules: ['@daily'] });
    expect((await api.act('a b', 'run-now')).run).toBe('a b-1');
    await api.remove('x');
    expect(changed).toEqual(['made', 'a b', 'x']);
    expect(schedulesOf(fake)).toBe(schedulesOf(fake));
  });
});

describe('ScheduleForm', () => {
  it('shows the server\'s words and next times, the latest answer only', async () => {
    const asked: [string[], string][] = [];
    const pending: ((d: any) => void)[] = [];
    const form = new ScheduleForm({
      values: { ...emptyForm('a.ipynb', 'etl', 'Europe/Paris'), cron: '0 2 * * *' },
      describe: (crons, zone) => {
        asked.push([crons, zone]);
        return new Promise((resolve) => pending.push(resolve));
      },
      zones: ['Europe/Paris', 'UTC'],
      debounceMs: 1
    });
    expect(asked).toEqual([[['0 2 * * *'], 'Europe/Paris']]);
    const cron = form.node.querySelector<HTMLInputElement>('.jp-nbflow-sf-cron')!;
    cron.value = '0 3 * * *';
    cron.dispatchEvent(new Event('input'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(asked.length).toBe(2);
    pending[1]({ text: 'every day at 03:00, Europe/Paris', next: ['2026-12-08T02:00:00Z', '2026-12-09T02:00:00Z'] });
    await flush();
    pending[0]({ text: 'every day at 02:00, Europe/Paris', next: [] }); // late: ignored
    await flush();
    const words = form.node.querySelector('.jp-nbflow-ScheduleForm-words')!;
    expect(words.textContent).toBe('every day at 03:00, Europe/Paris');
    const times = Array.from(form.node.querySelectorAll('.jp-nbflow-ScheduleForm-next li')).map((li) => li.textContent);
    expect(times).toEqual(['Tue 2026-12-08 03:00', 'Wed 2026-12-09 03:00']);
    expect(form.node.dataset.state).toBe('ok');
    expect(form.getValue()).toMatchObject({ notebook: 'a.ipynb', workflow: 'etl', cron: '0 3 * * *', code: 'follow' });
    form.dispose();
  });

  it('shows a bad schedule\'s one-line reason, and what it holds', async () => {
    const form = new ScheduleForm({
      values: { ...emptyForm('a.ipynb', '', 'UTC'), cron: '0 2 * *' },
      describe: async () => {
        throw new ApiError("schedule '0 2 * *': expected 5 cron fields", 400);
      },
      workflows: async () => ['only'],
      error: 'a schedule named etl exists already'
    });
    await form.ready;
    await flush();
    expect(form.node.dataset.state).toBe('error');
    expect(form.node.querySelector('.jp-nbflow-ScheduleForm-words')!.textContent).toMatch(/expected 5 cron fields/);
    expect(form.node.querySelector('.jp-nbflow-ScheduleForm-error')!.textContent).toMatch(/exists already/);
    expect(form.getValue().workflow).toBe('only'); // the notebook's only workflow
    form.node.querySelector<HTMLInputElement>('.jp-nbflow-sf-code-snapshot')!.checked = true;
    form.node.querySelector<HTMLSelectElement>('.jp-nbflow-sf-policy')!.value = 'Replace';
    form.node.querySelector<HTMLInputElement>('.jp-nbflow-sf-notify')!.value = 'slack:team';
    form.node.querySelector<HTMLSelectElement>('.jp-nbflow-sf-notify-on')!.value = 'always';
    expect(form.getValue()).toMatchObject({ code: 'snapshot', concurrencyPolicy: 'Replace', notify: 'slack:team', notifyOn: 'always' });
    form.dispose();
  });
});

describe('SchedulesSection', () => {
  function setUp(schedules: ScheduleSummary[], histories: Record<string, ScheduleRun[]>) {
    const fake = fakeRequest({
      'GET schedules': () => ({ schedules }),
      ...Object.fromEntries(Object.entries(histories).map(([n, runs]) => [
        `GET schedules/${n}/history`,
        () => ({ runs: runs.map((r) => ({ ...r })) })
      ]))
    });
    const api = new ScheduleApi(fake);
    const owner = {};
    const events = {
      runChanged: new Signal<object, RunSummary>(owner),
      runDeleted: new Signal<object, string>(owner),
      reconnected: new Signal<object, void>(owner)
    };
    const executed: [string, any][] = [];
    const commands = { execute: async (id: string, args?: any) => void executed.push([id, args]) };
    const section = new SchedulesSection({
      schedules: api,
      events,
      commands: commands as any,
      notebookPath: () => 'nb/a.ipynb',
      isVisible: () => true,
      pollMs: 0,
      batchMs: 1
    });
    return { fake, api, events, executed, section };
  }

  it('lists schedules with words, next and last run, and acts through commands', async () => {
    const { section, executed } = setUp(
      [summary('nightly', { code: 'snapshot' }), summary('paused', { suspended: true, nextScheduledTime: null })],
      { nightly: [fired('nightly-2', 'Failed'), fired('nightly-1', 'Succeeded')], paused: [] }
    );
    await section.reload();
    const items = section.node.querySelectorAll<HTMLElement>('.jp-nbflow-Schedule');
    expect(Array.from(items).map((el) => [el.dataset.schedule, el.dataset.state])).toEqual([
      ['nightly', 'active'],
      ['paused', 'paused']
    ]);
    const nightly = items[0];
    expect(nightly.querySelector('.jp-nbflow-Schedule-words')!.textContent).toBe('every day at 02:00, Europe/Paris');
    expect(nightly.querySelector('.jp-nbflow-Schedule-next')!.textContent).toContain('Tue 2026-12-08 02:00');
    expect(nightly.querySelector<HTMLElement>('.jp-nbflow-Schedule-last')!.dataset.phase).toBe('Failed');
    expect(nightly.querySelector('.jp-nbflow-Schedule-code')!.textContent).toContain('frozen snapshot');
    expect(items[1].querySelector('.jp-nbflow-Schedule-next')!.textContent).toBe('paused: no next run');
    expect(items[1].querySelector('.jp-nbflow-resume-schedule')).not.toBeNull();

    nightly.querySelector<HTMLElement>('.jp-nbflow-pause-schedule')!.click();
    nightly.querySelector<HTMLElement>('.jp-nbflow-run-schedule')!.click();
    nightly.querySelector<HTMLElement>('.jp-nbflow-delete-schedule')!.click();
    section.node.querySelector<HTMLElement>('.jp-nbflow-new-schedule')!.click();
    expect(executed).toEqual([
      ['nbflow:pause-schedule', { name: 'nightly' }],
      ['nbflow:run-schedule-now', { name: 'nightly' }],
      ['nbflow:delete-schedule', { name: 'nightly' }],
      ['nbflow:new-schedule', { path: 'nb/a.ipynb' }]
    ]);

    // the history opens; a run in it opens the run view
    section.node.querySelector<HTMLElement>('.jp-nbflow-schedule-history')!.click();
    const runs = section.node.querySelectorAll<HTMLElement>('.jp-nbflow-ScheduleRun');
    expect(Array.from(runs).map((r) => r.dataset.run)).toEqual(['nightly-2', 'nightly-1']);
    runs[1].click();
    expect(executed[4]).toEqual(['nbflow:open-run', { id: 'nightly-1' }]);
    section.dispose();
  });

  it('follows its runs live, and reloads for a new one or a change made here', async () => {
    const history = [fired('nightly-1', 'Running')];
    const schedules = [summary('nightly', { active: ['nightly-1'] })];
    const { section, events, fake, api } = setUp(schedules, { nightly: history });
    await section.reload();
    const calls = fake.calls.length;
    const run = { id: 'nightly-1', phase: 'Succeeded', startedAt: 's', finishedAt: 'f' } as RunSummary;
    events.runChanged.emit(run);
    expect(section.history('nightly')[0].phase).toBe('Succeeded');
    expect(section.node.querySelector<HTMLElement>('.jp-nbflow-Schedule-last')!.dataset.phase).toBe('Succeeded');
    expect(fake.calls.length).toBe(calls); // no request for a known run
    events.runChanged.emit({ id: 'other-5', phase: 'Running' } as RunSummary);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(fake.calls.length).toBe(calls); // not a schedule's run

    history.unshift(fired('nightly-2', 'Pending')); // it fired: its summary says so
    schedules[0] = summary('nightly', { active: ['nightly-2'], lastScheduledTime: '2026-12-08T01:00:00Z' });
    events.runChanged.emit({ id: 'nightly-2', phase: 'Pending' } as RunSummary);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(section.history('nightly').map((r) => r.run)).toEqual(['nightly-2', 'nightly-1']);

    const before = fake.calls.length;
    (api as any)._changed.emit('nightly'); // e.g. paused from the palette
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(fake.calls.length).toBeGreaterThan(before);
    section.dispose();
  });

  it('reads again only the histories that may have changed', async () => {
    const nightly = summary('nightly', { lastScheduledTime: '2026-12-07T01:00:00Z', succeeded: 1 });
    const schedules = [nightly, summary('weekly')];
    const { section, fake } = setUp(schedules, {
      nightly: [fired('nightly-1', 'Succeeded')],
      weekly: [fired('weekly-1', 'Running')]
    });
    await section.reload();
    const asked = () => fake.calls.map((c) => c.path).filter((p) => p.endsWith('/history'));
    expect(asked()).toEqual(['schedules/nightly/history', 'schedules/weekly/history']);
    await section.reload(false); // nightly is settled; weekly has a run going
    expect(asked().slice(2)).toEqual(['schedules/weekly/history']);
    schedules[0] = { ...nightly, lastScheduledTime: '2026-12-08T01:00:00Z', active: ['nightly-2'] };
    await section.reload(false); // nightly fired
    expect(asked().slice(3)).toEqual(['schedules/nightly/history', 'schedules/weekly/history']);
    await section.reload(); // everything
    expect(asked().length).toBe(7);
    section.dispose();
  });

  it('says when there are none, or why it cannot list them', async () => {
    const { section } = setUp([], {});
    expect(section.node.textContent).toContain('reading…');
    await section.reload();
    expect(section.node.textContent).toContain('No schedules yet.');
    const broken = new SchedulesSection({
      schedules: new ScheduleApi(fakeRequest({ 'GET schedules': new ApiError('not authorized', 403) })),
      events: { runChanged: new Signal({}), runDeleted: new Signal({}), reconnected: new Signal({}) },
      commands: { execute: async () => undefined } as any,
      notebookPath: () => null,
      isVisible: () => false
    });
    await broken.reload();
    expect(broken.node.querySelector('.jp-nbflow-error')!.textContent).toBe('not authorized');
    section.dispose();
    broken.dispose();
  });
});
