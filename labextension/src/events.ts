// Live updates from the nbflow server's WebSocket (nbflow/api/events), reconnecting on loss.
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import type { NodeState } from '../../nbflow/widget/static/graph.js';
import type { RunSummary } from './api';

export interface NodesMessage {
  run: string;
  nodes: Record<string, NodeState>;
  /** Every node's state (sent right after subscribing), not only the changed ones. */
  full: boolean;
}

/** The socket's surface that RunEvents uses (a browser WebSocket fits). */
export interface SocketLike {
  readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(): void;
}

const OPEN = 1;

/**
 * One connection per page to the server's run events. Views subscribe to the node states of
 * the runs they show; every client receives run summaries. After a lost connection it
 * reconnects (1 s, then up to 30 s apart), subscribes again and emits `reconnected`, so that
 * views reload what they may have missed.
 */
export class RunEvents implements IDisposable {
  constructor(
    private readonly url: () => string,
    private readonly connect: (url: string) => SocketLike = (u) => new WebSocket(u) as any
  ) {}

  get runChanged(): ISignal<this, RunSummary> {
    return this._runChanged;
  }

  get nodesChanged(): ISignal<this, NodesMessage> {
    return this._nodesChanged;
  }

  get runDeleted(): ISignal<this, string> {
    return this._runDeleted;
  }

  get reconnected(): ISignal<this, void> {
    return this._reconnected;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  get connected(): boolean {
    return !!this._socket && this._socket.readyState === OPEN;
  }

  /** Open the connection (once; later calls do nothing). */
  start(): void {
    if (!this._socket && !this._disposed) this.open();
  }

  /** Receive the node states of `run` until the returned object is disposed. */
  subscribe(run: string): IDisposable {
    const count = this._subscriptions.get(run) ?? 0;
    this._subscriptions.set(run, count + 1);
    if (count === 0) this.sendJson({ subscribe: run });
    this.start();
    let done = false;
    return {
      get isDisposed() {
        return done;
      },
      dispose: () => {
        if (done) return;
        done = true;
        const left = (this._subscriptions.get(run) ?? 1) - 1;
        if (left > 0) {
          this._subscriptions.set(run, left);
        } else {
          this._subscriptions.delete(run);
          this.sendJson({ unsubscribe: run });
        }
      }
    };
  }

  /** Handle one message of the server (public for tests). */
  receive(text: string): void {
    let msg: any;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg && msg.type === 'run' && msg.run && typeof msg.run.id === 'string') {
      this._runChanged.emit(msg.run as RunSummary);
    } else if (msg && msg.type === 'nodes' && typeof msg.run === 'string' && msg.nodes) {
      this._nodesChanged.emit({ run: msg.run, nodes: msg.nodes, full: !!msg.full });
    } else if (msg && msg.type === 'deleted' && typeof msg.run === 'string') {
      this._runDeleted.emit(msg.run);
    }
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    clearTimeout(this._timer);
    const socket = this._socket;
    this._socket = null;
    if (socket) {
      socket.onclose = null;
      socket.close();
    }
    Signal.clearData(this);
  }

  private open(): void {
    let socket: SocketLike;
    try {
      socket = this.connect(this.url());
    } catch {
      this.retryLater();
      return;
    }
    this._socket = socket;
    socket.onopen = () => {
      const again = this._everOpen;
      this._everOpen = true;
      this._delay = 1000;
      for (const run of this._subscriptions.keys()) this.sendJson({ subscribe: run });
      if (again) this._reconnected.emit();
    };
    socket.onmessage = (ev) => this.receive(String(ev.data));
    socket.onerror = () => undefined;
    socket.onclose = () => {
      if (this._socket === socket) this._socket = null;
      this.retryLater();
    };
  }

  private retryLater(): void {
    if (this._disposed) return;
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.open(), this._delay);
    this._delay = Math.min(30_000, this._delay * 2);
  }

  private sendJson(msg: unknown): void {
    if (this._socket && this._socket.readyState === OPEN) this._socket.send(JSON.stringify(msg));
  }

  private _socket: SocketLike | null = null;
  private _subscriptions = new Map<string, number>();
  private _delay = 1000;
  private _timer: any = undefined;
  private _everOpen = false;
  private _disposed = false;
  private _runChanged = new Signal<this, RunSummary>(this);
  private _nodesChanged = new Signal<this, NodesMessage>(this);
  private _runDeleted = new Signal<this, string>(this);
  private _reconnected = new Signal<this, void>(this);
}
