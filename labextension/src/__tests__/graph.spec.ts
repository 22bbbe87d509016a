// The shared renderer (nbflow/widget/static/graph.js) and the widget's adapter (widget.js).
import {
  GraphView,
  hasVizProvider,
  nodeLines,
  normalize,
  provideViz,
  vizInstance
} from '../../../nbflow/widget/static/graph.js';
import widget from '../../../nbflow/widget/static/widget.js';

const graph = {
  nodes: [
    { id: 'extract', label: 'extract', template: 'extract', kind: 'task' },
    { id: 'score', label: 'score', template: 'score', kind: 'group' },
    { id: 'report', label: 'report', template: 'report', kind: 'task' }
  ],
  edges: [
    { from: 'extract', to: 'score', kind: 'dep' },
    { from: 'score', to: 'report', kind: 'dep' }
  ]
};
const positions = {
  width: 200,
  height: 300,
  nodes: { extract: [0, 0, 166, 56], score: [0, 100, 187, 70], report: [0, 200, 166, 56] },
  edges: [
    { from: 'extract', to: 'score', path: 'M83,56 C83,70 83,80 83,100' },
    { from: 'score', to: 'report', path: 'M83,170 C83,180 83,190 83,200' }
  ]
};
const pending = { phase: 'Pending', message: '', started: null, finished: null, duration: '' };

function host() {
  return { select: jest.fn(), act: jest.fn(), openNotebook: jest.fn(), layout: jest.fn() };
}

function drawn(h = host()) {
  const el = document.createElement('div');
  document.body.append(el);
  const view = new GraphView(el, h);
  view.set({ graph, positions, nodes: { extract: pending, score: pending, report: pending }, info: { id: 'r1', phase: 'Running' } });
  return { el, view, h };
}

const node = (el: HTMLElement, id: string) => el.querySelector(`g.nbflow-node[data-task='${id}']`)!;

afterEach(() => {
  document.body.replaceChildren();
  for (const key of Object.getOwnPropertySymbols(globalThis)) {
    if (String(key).includes('nbflow.viz')) delete (globalThis as any)[key];
  }
});

describe('GraphView', () => {
  it('draws every node, and arrowheads with ids unique to the view', () => {
    const a = drawn();
    const b = drawn();
    expect(a.el.querySelectorAll('g.nbflow-node').length).toBe(3);
    const ids = [a.el, b.el].map((el) => el.querySelector('marker')!.id);
    expect(ids[0]).not.toBe(ids[1]);
    for (const [el, id] of [[a.el, ids[0]], [b.el, ids[1]]] as const) {
      const ends = Array.from(el.querySelectorAll('path.nbflow-edge')).map((p) => p.getAttribute('marker-end'));
      expect(ends).toEqual([`url(#${id})`, `url(#${id})`]);
    }
    expect(a.el.dataset.layout).toBe('kernel');
  });

  it('applies patches to the changed nodes only', () => {
    const { el, view } = drawn();
    view.patch({ score: { ...pending, phase: 'Running', counts: { Succeeded: 2, Running: 1, Pending: 1 }, total: 4 } });
    expect(node(el, 'score').getAttribute('data-phase')).toBe('Running');
    expect(node(el, 'score').querySelector('.nbflow-detail')!.textContent).toBe('4 items ✔2 ◐1 ○1');
    expect(node(el, 'score').querySelectorAll('.nbflow-bar-part').length).toBe(3);
    expect(node(el, 'extract').getAttribute('data-phase')).toBe('Pending');
    view.destroy();
  });

  it('reports clicks, Enter, and the action buttons to its host', () => {
    const { el, view, h } = drawn();
    (node(el, 'report') as any).dispatchEvent(new MouseEvent('click', { bubbles: true }));
    expect(h.select).toHaveBeenLastCalledWith('report', null);
    node(el, 'extract').dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
    expect(h.select).toHaveBeenLastCalledWith('extract', null);
    view.set({ actions: ['stop', 'rerun'] });
    const rerun = el.querySelector<HTMLButtonElement>('button.nbflow-action-rerun')!;
    expect(rerun.disabled).toBe(true);
    view.set({ selected: { task: 'score' } });
    el.querySelector<HTMLButtonElement>('button.nbflow-action-rerun')!.click();
    expect(h.act).toHaveBeenLastCalledWith('rerun', 'score');
    expect(node(el, 'score').classList.contains('nbflow-selected')).toBe(true);
  });

  it('moves the focus between nodes with the arrow keys; Escape closes the pane', () => {
    const { el, h } = drawn();
    (node(el, 'extract') as any).focus();
    node(el, 'extract').dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', bubbles: true }));
    expect(document.activeElement).toBe(node(el, 'score'));
    node(el, 'score').dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown', bubbles: true }));
    expect(document.activeElement).toBe(node(el, 'report'));
    node(el, 'report').dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    expect(h.select).toHaveBeenLastCalledWith(null, null);
  });

  it('shows the details of the selection: parameters, attempts, error, notebook', () => {
    const { el, view, h } = drawn();
    view.set({ selected: { task: 'score' } });
    expect(el.querySelector('.nbflow-pane')!.textContent).toBe('loading…');
    view.set({
      details: {
        task: 'score', node: 'n1', title: 'score', kind: 'retry', phase: 'Failed', template: 'score',
        parameters: [{ name: 'shard', value: '0' }],
        attempts: [{ id: 'a0', label: 'attempt 0', phase: 'Failed', duration: '1s', message: 'boom' }],
        error: { ename: 'ZeroDivisionError', evalue: 'division by zero', traceback: 'Traceback…', cell: 3, source: 'x = 1 / 0' },
        notebook: '/runs/r1/score.ipynb', inputs: [], outputs: [], items: []
      }
    });
    const pane = el.querySelector<HTMLElement>('.nbflow-pane')!;
    expect(pane.hidden).toBe(false);
    expect(pane.querySelector('table.nbflow-kv')!.textContent).toContain('shard0');
    expect(pane.querySelector('pre.nbflow-source')!.textContent).toBe('x = 1 / 0');
    pane.querySelector<HTMLButtonElement>('.nbflow-list button')!.click();
    expect(h.select).toHaveBeenLastCalledWith('score', 'a0');
    pane.querySelector<HTMLButtonElement>('button.nbflow-open-notebook')!.click();
    expect(h.openNotebook).toHaveBeenLastCalledWith('n1');
    pane.querySelector<HTMLButtonElement>('button.nbflow-close')!.click();
    expect(h.select).toHaveBeenLastCalledWith(null, null);
    expect(pane.querySelector('.nbflow-goto-cell')).toBeNull(); // the host offers no cells
  });

  it('offers "Go to cell" when its host can show cells', () => {
    const h = { ...host(), goToCell: jest.fn() };
    const { el, view } = drawn(h);
    view.set({ selected: { task: 'report' }, details: { task: 'report', node: null, phase: 'Pending', template: 'report', kind: 'pending' } });
    el.querySelector<HTMLButtonElement>('.nbflow-goto-cell')!.click();
    expect(h.goToCell).toHaveBeenCalledWith('report', 'report');
  });

  it('lays the graph out with the page-wide Graphviz when there are no positions', async () => {
    const json0 = {
      bb: '0,0,200,300',
      objects: graph.nodes.map((n, i) => ({ _gvid: i, name: n.id, pos: `100,${250 - i * 100}`, width: '2.3', height: '0.78' })),
      edges: [{ tail: 0, head: 1, pos: 'e,100,140 100,220 100,200 100,180 100,160' }]
    };
    const render = jest.fn(() => ({ status: 'success', output: JSON.stringify(json0), errors: [] }));
    const load = jest.fn(async () => ({ instance: async () => ({ render }) }));
    provideViz(load);
    expect(hasVizProvider()).toBe(true);
    const h = host();
    const el = document.createElement('div');
    const view = new GraphView(el, { ...h, loadViz: () => Promise.reject(new Error('not this one')) });
    view.set({ graph, dot: 'digraph {}', nodes: {} });
    await new Promise((r) => setTimeout(r, 0));
    await new Promise((r) => setTimeout(r, 0));
    expect(el.dataset.layout).toBe('browser');
    expect(el.querySelectorAll('g.nbflow-node').length).toBe(3);
    expect(h.layout).toHaveBeenCalledWith(json0);
    await vizInstance();
    expect(load).toHaveBeenCalledTimes(1); // loaded once per page
  });

  it('says why it cannot lay the graph out', async () => {
    const el = document.createElement('div');
    const view = new GraphView(el, { ...host(), loadViz: () => Promise.reject(new Error('no WebAssembly')) });
    view.set({ graph, dot: 'digraph {}' });
    await new Promise((r) => setTimeout(r, 0));
    expect(el.querySelector('.nbflow-graph')!.textContent).toBe('cannot lay the graph out: Error: no WebAssembly');
  });
});

describe('pure helpers', () => {
  it('reads Graphviz json0 as layout.normalize does', () => {
    const out = normalize({
      bb: '0,0,100,200',
      objects: [{ _gvid: 0, name: 'a', pos: '50,150', width: '1', height: '0.5' }, { _gvid: 1, name: 'b', pos: '50,50', width: '1', height: '0.5' }],
      edges: [{ tail: 0, head: 1, pos: 'e,50,75 50,132 50,120 50,100 50,90' }]
    });
    expect(out.nodes).toEqual({ a: [14, 32, 72, 36], b: [14, 132, 72, 36] });
    expect(out.edges![0]).toEqual({ from: 'a', to: 'b', path: 'M50.0,68.0 C50.0,80.0 50.0,100.0 50.0,110.0 L50.0,125.0' });
  });

  it('writes the lines of a node', () => {
    const n = { id: 'fit', label: 'fit', template: 'fit', kind: 'task' };
    expect(nodeLines({ phase: 'Running', started: 100, attempt: '2/4', backoff: '4s' }, n, undefined, 142)).toEqual({
      status: '◐ running · 42s',
      detail: 'attempt 2/4 · backoff 4s'
    });
    expect(nodeLines({ phase: 'Succeeded', duration: '3s', cached: 1 }, { ...n, label: 'fit2' }).detail).toBe('fit · cached');
    // a step that a stop ended reads "stopped"; a condition shows until the task runs
    expect(nodeLines({ phase: 'Failed', duration: '2s', stopped: true }, n).status).toBe('■ stopped · 2s');
    expect(nodeLines({ phase: 'Pending' }, { ...n, when: 'check.ok == true' }).detail).toBe('if check.ok == true');
    expect(nodeLines({ phase: 'Succeeded' }, { ...n, when: 'check.ok == true' }).detail).not.toContain('if ');
  });
});

describe('widget.js (anywidget adapter)', () => {
  function model(state: Record<string, any>) {
    const handlers: Record<string, ((...a: any[]) => void)[]> = {};
    return {
      state,
      sent: [] as any[],
      get: (k: string) => state[k],
      set: jest.fn((k: string, v: any) => (state[k] = v)),
      save_changes: jest.fn(),
      send(msg: any) {
        this.sent.push(msg);
      },
      on: (ev: string, fn: any) => (handlers[ev] ||= []).push(fn),
      off: (ev: string, fn: any) => (handlers[ev] = (handlers[ev] || []).filter((f) => f !== fn)),
      emit: (ev: string, ...a: any[]) => (handlers[ev] || []).forEach((fn) => fn(...a)),
      handlers
    };
  }

  it('draws the synced state, forwards patches to every view, and reports clicks', () => {
    const m = model({ graph, positions, nodes: { extract: pending }, info: { id: 'r1', phase: 'Running' }, selected: {}, details: {}, actions: [] });
    widget.initialize({ model: m });
    expect(m.sent).toEqual([{ type: 'sync' }]);
    const els = [document.createElement('div'), document.createElement('div')];
    const cleanups = els.map((el) => widget.render({ model: m, el }));
    m.emit('msg:custom', { type: 'patch', nodes: { report: { ...pending, phase: 'Failed' } } });
    for (const el of els) expect(node(el, 'report').getAttribute('data-phase')).toBe('Failed');
    (node(els[0], 'report') as any).dispatchEvent(new MouseEvent('click', { bubbles: true }));
    expect(m.set).toHaveBeenCalledWith('selected', { task: 'report', node: null });
    expect(m.save_changes).toHaveBeenCalled();
    cleanups.forEach((c: any) => c());
    expect((m.handlers['change:info'] || []).length).toBe(0);
  });

  it('stops a run through the nbflow server when the page has one, else through the kernel', async () => {
    const config = document.createElement('script');
    config.id = 'jupyter-config-data';
    config.type = 'application/json'; // as Jupyter's pages have it (never evaluated)
    config.textContent = JSON.stringify({ baseUrl: '/base/' });
    document.body.append(config);
    document.cookie = '_xsrf=tok1';
    const fetchMock = jest.fn(async () => ({ ok: true }));
    (globalThis as any).fetch = fetchMock;
    try {
      const m = model({ graph, positions, nodes: {}, info: { id: 'r1', phase: 'Running' }, selected: {}, actions: ['stop'] });
      const el = document.createElement('div');
      widget.render({ model: m, el });
      (el.querySelector('button.nbflow-action-stop') as HTMLButtonElement).click();
      await new Promise((r) => setTimeout(r, 0));
      expect(fetchMock).toHaveBeenCalledTimes(1);
      const [url, init] = (fetchMock.mock.calls[0] as any[]);
      expect(url).toBe('/base/nbflow/api/runs/r1/actions/stop');
      expect(init.method).toBe('POST');
      expect(init.headers['X-XSRFToken']).toBe('tok1');
      expect(m.sent).not.toContainEqual(expect.objectContaining({ type: 'action' }));

      fetchMock.mockImplementation(async () => ({ ok: false })); // e.g. no nbflow server here
      (el.querySelector('button.nbflow-action-stop') as HTMLButtonElement).click();
      await new Promise((r) => setTimeout(r, 0));
      expect(m.sent).toContainEqual({ type: 'action', name: 'stop', task: null });
    } finally {
      delete (globalThis as any).fetch;
    }
  });

  it('asks the kernel for Graphviz only when the page has none', async () => {
    const m = model({ graph, positions: {}, dot: 'digraph {}', nodes: {}, info: {}, selected: {} });
    widget.render({ model: m, el: document.createElement('div') });
    await new Promise((r) => setTimeout(r, 0));
    expect(m.sent).toContainEqual({ type: 'viz' });

    for (const key of Object.getOwnPropertySymbols(globalThis)) {
      if (String(key).includes('nbflow.viz.instance')) delete (globalThis as any)[key];
    }
    const render = () => ({ status: 'failure', errors: [{ message: 'bad dot' }] });
    provideViz(async () => ({ instance: async () => ({ render }) }));
    const m2 = model({ graph, positions: {}, dot: 'digraph {}', nodes: {}, info: {}, selected: {} });
    const el = document.createElement('div');
    widget.render({ model: m2, el });
    await new Promise((r) => setTimeout(r, 0));
    expect(m2.sent).not.toContainEqual({ type: 'viz' });
    expect(el.textContent).toContain('bad dot');
  });
});
