import type { Action, RunGraph, RunSummary } from '../api';
import { badgeState, tasksOfTemplate, templateCellIndex, worstPhase } from '../cells';
import { executedPath, lockCells, parseExecutedPath } from '../executed';
import { cellMagic, runCode } from '../magic';
import { offeredActions } from '../actions';

const summary = (extra: Partial<RunSummary> = {}): RunSummary => ({
  id: 'qs-1', workflow: 'quickstart', phase: 'Running', message: '', startedAt: '2026-01-01T00:00:00Z',
  finishedAt: null, duration_s: null, notebook: 'quickstart.ipynb', backend: 'local', progress: '2/5', live: true,
  ...extra
});

const graph: RunGraph = {
  graph: {
    nodes: [
      { id: 'generate', label: 'generate', template: 'generate', kind: 'task' },
      { id: 'summarize', label: 'summarize', template: 'summarize', kind: 'group' },
      { id: 'fit-a', label: 'fit-a', template: 'fit-model', kind: 'task' },
      { id: 'fit-b', label: 'fit-b', template: 'fit-model', kind: 'task' }
    ],
    edges: []
  },
  nodes: {
    generate: { phase: 'Succeeded' },
    summarize: { phase: 'Running', counts: { Succeeded: 1, Running: 3 }, total: 4 },
    'fit-a': { phase: 'Succeeded' },
    'fit-b': { phase: 'Failed' }
  },
  info: { id: 'qs-1', phase: 'Running' },
  positions: {},
  dot: ''
};

const workflow = {
  spec: {
    templates: [
      { name: 'generate', inputs: { artifacts: [{ name: 'nbflow-step', raw: { data: JSON.stringify({ cells: [
        { id: 'nbflow-setup', source: 'import random' }, { id: 'nbflow-template', source: 'rows = [1]' }] }) } }] } }
    ]
  }
};

describe('cell badges', () => {
  it('picks the phase that needs attention first', () => {
    expect(worstPhase(['Succeeded', 'Failed', 'Running'])).toBe('Failed');
    expect(worstPhase(['Succeeded', 'Running'])).toBe('Running');
    expect(worstPhase([])).toBeNull();
  });

  it('finds the tasks of a template, by its manifest name', () => {
    expect(tasksOfTemplate(graph, 'fit_model')).toEqual(['fit-a', 'fit-b']);
    expect(tasksOfTemplate(graph, 'report')).toEqual([]);
  });

  it('shows the phase of the cell\'s tasks in the latest run, and edits since', () => {
    const code = runCode(workflow);
    const same = badgeState(cellMagic('%%template generate --outputs rows\nrows = [1]')!, summary(), graph, code);
    expect(same).toMatchObject({ phase: 'Succeeded', edited: false, tasks: ['generate'] });
    expect(same.text).toBe('✔ succeeded · run qs-1');
    const edited = badgeState(cellMagic('%%template generate\nrows = [2]')!, summary(), graph, code);
    expect(edited.edited).toBe(true);
    expect(edited.text).toBe('✔ succeeded · run qs-1 · edited since that run');
    const two = badgeState(cellMagic('%%template fit_model\nx = 1')!, summary(), graph, code);
    expect(two.text).toBe('✖ failed · 2 tasks · run qs-1');
    const setup = badgeState(cellMagic('%%setup\nimport random')!, summary({ phase: 'Running' }), graph, code);
    expect(setup).toMatchObject({ phase: 'Running', edited: false });
    expect(badgeState(cellMagic('%%template new_one\nx = 1')!, summary(), graph, code).text).toBe('not in this run · run qs-1');
    expect(badgeState(cellMagic('%%setup\nx')!, null, null, null).text).toBe('setup · not run yet');
  });

  it('finds the cell of a template', () => {
    const sources = ['%load_ext nbflow', '%%setup\nimport random', '%%template fit_model --inputs stats\nx = 1'];
    expect(templateCellIndex(sources, 'fit-model')).toBe(2);
    expect(templateCellIndex(sources, 'fit_model')).toBe(2);
    expect(templateCellIndex(sources, 'report')).toBe(-1);
  });
});

describe('executed notebooks', () => {
  it('round-trips the path of a node\'s executed notebook', () => {
    const path = executedPath('qs-1', 'summarize', 'qs-1-123/4');
    expect(path).toBe('nbflow-run:qs-1/summarize/qs-1-123%2F4/summarize (qs-1).ipynb');
    expect(parseExecutedPath(path)).toEqual({ run: 'qs-1', task: 'summarize', node: 'qs-1-123/4' });
    expect(parseExecutedPath(executedPath('r', 't', null).slice('nbflow-run:'.length))).toEqual({ run: 'r', task: 't', node: null });
    expect(() => parseExecutedPath('nbflow-run:x.ipynb')).toThrow('not an executed notebook');
  });

  it('locks every cell', () => {
    const nb = lockCells({ cells: [{ cell_type: 'code', metadata: { tags: ['x'] } }, { cell_type: 'markdown' }] });
    expect(nb.cells.map((c: any) => c.metadata)).toEqual([
      { tags: ['x'], editable: false, deletable: false },
      { editable: false, deletable: false }
    ]);
  });
});

describe('offeredActions', () => {
  it('offers what the run can do now', () => {
    expect(offeredActions(summary(), graph)).toEqual(['stop']);
    const suspended = { ...graph, nodes: { ...graph.nodes, generate: { phase: 'Running', suspended: true } } };
    expect(offeredActions(summary(), suspended)).toEqual(['stop', 'resume']);
    expect(offeredActions(summary({ phase: 'Failed', live: false }), graph)).toEqual(['retry', 'rerun']);
    expect(offeredActions(summary({ phase: 'Succeeded', live: false, notebook: null }), graph)).toEqual([]);
    expect(offeredActions(summary({ phase: 'Running', live: false }), graph)).toEqual(['resume_run']);
    expect(offeredActions(null, null)).toEqual([]);
  });

  it('offers only what the run\'s driver can do', () => {
    const cluster = { ...graph, can: ['stop', 'resume', 'retry'] as Action[] };
    expect(offeredActions(summary({ phase: 'Failed', live: false }), cluster)).toEqual(['retry']);
    expect(offeredActions(summary({ phase: 'Running', live: false }), cluster)).toEqual([]);
    expect(offeredActions(summary(), cluster)).toEqual(['stop']);
  });
});
