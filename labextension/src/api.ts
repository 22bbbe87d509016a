// The nbflow server API (nbflow/server, prefix nbflow/api/): typed requests and its errors.
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { answer, ApiError, withQuery } from './http';

import type { GraphShape, NodeState, Positions, RunInfo } from '../../nbflow/widget/static/graph.js';

export const API_PREFIX = 'nbflow/api';

/** One run in a list (GET runs). */
export interface RunSummary {
  id: string;
  workflow: string;
  phase: string;
  message: string;
  startedAt: string | null;
  finishedAt: string | null;
  duration_s: number | null;
  notebook: string | null;
  backend: 'local' | 'argo' | string;
  progress: string;
  live: boolean;
}

export interface RunPage {
  runs: RunSummary[];
  total: number;
}

export interface RunQuery {
  workflow?: string;
  phase?: string;
  notebook?: string;
  limit?: number;
  offset?: number;
}

/** What a run view draws (GET runs/{run}/graph): the widget's own state. */
export interface RunGraph {
  graph: GraphShape;
  nodes: Record<string, NodeState>;
  info: RunInfo;
  positions: Positions;
  dot: string;
  phases?: Record<string, { icon: string; label: string }>;
  /** What the run's driver can do at all (a cluster run cannot rerun, say), when the server
   * knows; the view narrows it by the run's state now. */
  can?: Action[];
}

export interface WorkflowTemplate {
  name: string;
  cell: number;
  cell_id: string | null;
}

export interface NotebookWorkflow {
  name: string;
  tasks: string[];
  templates: WorkflowTemplate[];
  schedule: string | null;
}

export interface LintProblem {
  level: string;
  where: string;
  message: string;
}

export type Action = 'stop' | 'terminate' | 'retry' | 'resume' | 'resume_run' | 'rerun';

export { ApiError, withQuery };

const seg = encodeURIComponent;

/** The nbflow REST API of one Jupyter server. */
export class NbflowApi {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  /** JSON of `path` (under nbflow/api/); an ApiError when the answer is not 2xx. */
  async request<T>(path: string, init: RequestInit = {}): Promise<T> {
    const url = URLExt.join(this.settings.baseUrl, API_PREFIX, path);
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (error) {
      throw new ApiError(`the Jupyter server did not answer: ${String(error)}`, 0);
    }
    return answer<T>(response.status, response.statusText, await response.text(), path);
  }

  private post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>(path, { method: 'POST', body: JSON.stringify(body) });
  }

  runs(query: RunQuery = {}): Promise<RunPage> {
    return this.request(withQuery('runs', { ...query }));
  }

  run(id: string): Promise<{ summary: RunSummary; workflow: any }> {
    return this.request(`runs/${seg(id)}`);
  }

  graph(id: string): Promise<RunGraph> {
    return this.request(`runs/${seg(id)}/graph`);
  }

  /** The details pane of graph node `task` (or of its status node `node`). */
  details(id: string, task: string, node?: string | null): Promise<Record<string, any>> {
    return this.request(withQuery(`runs/${seg(id)}/nodes/${seg(task)}`, { node }));
  }

  logs(id: string, task: string, node?: string | null, tail?: number): Promise<{ text: string }> {
    return this.request(withQuery(`runs/${seg(id)}/nodes/${seg(task)}/logs`, { node, tail }));
  }

  /** The executed notebook (nbformat JSON) of graph node `task` (or status node `node`). */
  notebook(id: string, task: string, node?: string | null): Promise<any> {
    return this.request(withQuery(`runs/${seg(id)}/nodes/${seg(task)}/notebook`, { node }));
  }

  start(notebook: string, workflow: string | null, parameters: Record<string, string> = {}) {
    return this.post<{ id: string }>('runs', { notebook, workflow, parameters });
  }

  act(id: string, action: Action, body: { task?: string | null; nodes?: string[] } = {}) {
    return this.post<{ id: string; phase: string }>(`runs/${seg(id)}/actions/${seg(action)}`, body);
  }

  remove(id: string): Promise<void> {
    return this.request(`runs/${seg(id)}`, { method: 'DELETE' });
  }

  workflows(path: string): Promise<{ workflows: NotebookWorkflow[] }> {
    return this.request(withQuery('notebooks/workflows', { path }));
  }

  compile(path: string, workflow: string, kind?: string): Promise<{ yaml: string }> {
    return this.post('notebooks/compile', { path, workflow, kind });
  }

  lint(path: string, workflow?: string): Promise<{ problems: LintProblem[] }> {
    return this.post('notebooks/lint', { path, workflow });
  }

  /** The WebSocket URL of the live updates. */
  eventsUrl(): string {
    const url = URLExt.join(this.settings.wsUrl, API_PREFIX, 'events');
    const token = this.settings.token;
    return token ? `${url}?token=${encodeURIComponent(token)}` : url;
  }
}
