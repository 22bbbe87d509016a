import { RunEvents, SocketLike } from '../events';

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: any[] = [];
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: any }) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  constructor(readonly url: string) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  drop() {
    this.readyState = 3;
    this.onclose?.({});
  }
}

describe('RunEvents', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function connect() {
    const sockets: FakeSocket[] = [];
    const events = new RunEvents(() => 'ws://host/nbflow/api/events', (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    });
    return { events, sockets };
  }

  it('subscribes once per run, and unsubscribes after the last view', () => {
    const { events, sockets } = connect();
    events.start();
    sockets[0].open();
    const a = events.subscribe('run-1');
    const b = events.subscribe('run-1');
    a.dispose();
    a.dispose();
    expect(sockets[0].sent).toEqual([{ subscribe: 'run-1' }]);
    b.dispose();
    expect(sockets[0].sent).toEqual([{ subscribe: 'run-1' }, { unsubscribe: 'run-1' }]);
  });

  it('emits run summaries, node states and deletions', () => {
    const { events, sockets } = connect();
    const got: any[] = [];
    events.runChanged.connect((_, r) => got.push(['run', r.id]));
    events.nodesChanged.connect((_, m) => got.push(['nodes', m.run, Object.keys(m.nodes), m.full]));
    events.runDeleted.connect((_, id) => got.push(['deleted', id]));
    events.start();
    sockets[0].open();
    const send = (msg: any) => sockets[0].onmessage!({ data: JSON.stringify(msg) });
    send({ type: 'run', run: { id: 'r1', phase: 'Running' } });
    send({ type: 'nodes', run: 'r1', nodes: { fit: { phase: 'Running' } } });
    send({ type: 'nodes', run: 'r1', nodes: {}, full: true });
    send({ type: 'deleted', run: 'r0' });
    sockets[0].onmessage!({ data: 'not json' });
    send({ type: 'error', message: 'x' });
    expect(got).toEqual([
      ['run', 'r1'],
      ['nodes', 'r1', ['fit'], false],
      ['nodes', 'r1', [], true],
      ['deleted', 'r0']
    ]);
  });

  it('reconnects after a lost connection and subscribes again', () => {
    const { events, sockets } = connect();
    let reconnected = 0;
    events.reconnected.connect(() => reconnected++);
    events.subscribe('run-1'); // before the socket is open: sent on open
    sockets[0].open();
    expect(sockets[0].sent).toEqual([{ subscribe: 'run-1' }]);
    sockets[0].drop();
    expect(sockets.length).toBe(1);
    jest.advanceTimersByTime(1000);
    expect(sockets.length).toBe(2);
    sockets[1].open();
    expect(sockets[1].sent).toEqual([{ subscribe: 'run-1' }]);
    expect(reconnected).toBe(1);
    events.dispose();
    jest.advanceTimersByTime(60_000);
    expect(sockets.length).toBe(2);
  });
});
