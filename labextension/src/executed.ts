// Executed step notebooks as read-only Lab documents: a contents drive that reads them from
// the nbflow server, and a notebook widget factory that never starts a kernel for them.
import { Contents, ServerConnection } from '@jupyterlab/services';
import { ISignal, Signal } from '@lumino/signaling';

import type { NbflowApi } from './api';

/** The drive's name: executed notebooks have paths `nbflow-run:RUN/TASK/NODE/NAME.ipynb`. */
export const DRIVE = 'nbflow-run';
/** The widget factory that opens them read-only, without a kernel. */
export const EXECUTED_FACTORY = 'nbflow executed notebook';

const NO_NODE = '-';

/** The path of the executed notebook of graph node `task` (or status node `node`) of `run`. */
export function executedPath(run: string, task: string, node: string | null): string {
  const name = `${task} (${run}).ipynb`; // the tab's title
  return `${DRIVE}:${esc(run)}/${esc(task)}/${esc(node || NO_NODE)}/${esc(name)}`;
}

/** A path segment: only `%` and `/` escaped, so that the tab shows the name as it is. */
function esc(part: string): string {
  return part.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/** The run, task and status node of an executed notebook's path (without the drive prefix). */
export function parseExecutedPath(local: string): { run: string; task: string; node: string | null } {
  const path = local.startsWith(`${DRIVE}:`) ? local.slice(DRIVE.length + 1) : local;
  const parts = path.replace(/^\/+/, '').split('/');
  if (parts.length !== 4 || !parts[3].endsWith('.ipynb')) {
    throw new Error(`not an executed notebook: ${local}`);
  }
  const dec = decodeURIComponent;
  const node = dec(parts[2]);
  return { run: dec(parts[0]), task: dec(parts[1]), node: node === NO_NODE ? null : node };
}

/** The notebook with every cell locked against edits and deletion. */
export function lockCells(nb: any): any {
  const cells = (nb.cells ?? []).map((cell: any) => ({
    ...cell,
    metadata: { ...(cell.metadata ?? {}), editable: false, deletable: false }
  }));
  return { ...nb, cells };
}

const readOnly = (what: string) =>
  Promise.reject(new Error(`executed notebooks are read-only: cannot ${what}`));

/** A read-only drive over the executed notebooks that the nbflow server keeps. */
export class ExecutedDrive implements Contents.IDrive {
  readonly name = DRIVE;

  constructor(private readonly api: NbflowApi) {}

  get serverSettings(): ServerConnection.ISettings {
    return this.api.settings;
  }

  get fileChanged(): ISignal<Contents.IDrive, Contents.IChangedArgs> {
    return this._fileChanged;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  async get(localPath: string, options?: Contents.IFetchOptions): Promise<Contents.IModel> {
    const { run, task, node } = parseExecutedPath(localPath);
    const name = decodeURIComponent(localPath.split('/').pop() ?? `${task}.ipynb`);
    const wanted = options?.content !== false;
    const nb = wanted ? lockCells(await this.api.notebook(run, task, node)) : null;
    const now = new Date().toISOString();
    return {
      name,
      path: `${DRIVE}:${localPath}`,
      type: 'notebook',
      writable: false,
      created: now,
      last_modified: now,
      mimetype: 'application/x-ipynb+json',
      content: nb,
      format: wanted ? 'json' : null
    };
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    const { run, task, node } = parseExecutedPath(localPath);
    const base = this.api.settings.baseUrl.replace(/\/$/, '');
    const query = node ? `?node=${encodeURIComponent(node)}` : '';
    return `${base}/nbflow/api/runs/${encodeURIComponent(run)}/nodes/${encodeURIComponent(task)}/notebook${query}`;
  }

  newUntitled(): Promise<Contents.IModel> {
    return readOnly('create files');
  }

  delete(): Promise<void> {
    return readOnly('delete');
  }

  rename(): Promise<Contents.IModel> {
    return readOnly('rename');
  }

  save(): Promise<Contents.IModel> {
    return readOnly('save: use File > Save As… in your own folder');
  }

  copy(): Promise<Contents.IModel> {
    return readOnly('copy here');
  }

  async createCheckpoint(): Promise<Contents.ICheckpointModel> {
    return { id: 'executed', last_modified: new Date().toISOString() };
  }

  async listCheckpoints(): Promise<Contents.ICheckpointModel[]> {
    return [];
  }

  restoreCheckpoint(): Promise<void> {
    return readOnly('restore');
  }

  async deleteCheckpoint(): Promise<void> {
    return undefined;
  }

  dispose(): void {
    this._disposed = true;
    Signal.clearData(this);
  }

  private _disposed = false;
  private _fileChanged = new Signal<Contents.IDrive, Contents.IChangedArgs>(this);
}
