// What the extension's parts share: the API, the live events, the runs list, the sidebar, and
// where widgets go in JupyterLab's shell or Notebook 7's.
import { JupyterFrontEnd } from '@jupyterlab/application';
import { URLExt } from '@jupyterlab/coreutils';
import { WidgetTracker } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { Widget } from '@lumino/widgets';

import { API_PREFIX, NbflowApi, withQuery } from './api';
import { templateCellIndex } from './cells';
import { RunEvents } from './events';
import { EXECUTED_FACTORY, executedPath } from './executed';
import { RunList } from './runs';
import { RunView } from './runview';
import { PipelinesSidebar } from './sidebar';

/** A tab panel's surface (Notebook 7's file browser page is one). */
interface TabPanelLike extends Widget {
  tabBar: unknown;
  addWidget(widget: Widget): void;
  currentWidget: Widget | null;
}

function isTabPanel(widget: Widget | null): widget is TabPanelLike {
  return !!widget && 'tabBar' in widget && typeof (widget as any).addWidget === 'function';
}

export interface NbflowOptions {
  app: JupyterFrontEnd;
  /** JupyterLab (a dock panel for the main area) rather than Notebook 7. */
  isLab: boolean;
  docManager: IDocumentManager | null;
  notebooks: INotebookTracker | null;
  api?: NbflowApi;
  events?: RunEvents;
}

/** The extension's state in one page. */
export class Nbflow {
  readonly app: JupyterFrontEnd;
  readonly api: NbflowApi;
  readonly events: RunEvents;
  readonly runs: RunList;
  readonly sidebar: PipelinesSidebar;
  readonly views = new WidgetTracker<RunView>({ namespace: 'nbflow-run' });
  readonly isLab: boolean;
  readonly docManager: IDocumentManager | null;
  readonly notebooks: INotebookTracker | null;
  /** Whether executed notebooks open as read-only notebook tabs (else as rendered pages). */
  executedTabs = false;

  constructor(options: NbflowOptions) {
    this.app = options.app;
    this.isLab = options.isLab;
    this.docManager = options.docManager;
    this.notebooks = options.notebooks;
    this.api = options.api ?? new NbflowApi(options.app.serviceManager.serverSettings);
    this.events = options.events ?? new RunEvents(() => this.api.eventsUrl());
    this.runs = new RunList(this.api);
    this.sidebar = new PipelinesSidebar({
      api: this.api,
      events: this.events,
      runs: this.runs,
      commands: options.app.commands
    });
  }

  /** The path of the notebook the user works in, if any. */
  currentNotebook(): NotebookPanel | null {
    return this.notebooks?.currentWidget ?? null;
  }

  /** Put the sidebar in the left area (both shells), ranked after the file browser. */
  placeSidebar(): void {
    this.app.shell.add(this.sidebar, 'left', { rank: 650 });
  }

  /** Show the sidebar. */
  showSidebar(): void {
    const shell = this.app.shell as any;
    if (!this.isLab && typeof shell.expandLeft === 'function') shell.expandLeft(this.sidebar.id);
    else shell.activateById(this.sidebar.id);
  }

  /**
   * Put a widget where a document would go: a tab in JupyterLab's main area; in Notebook 7,
   * a tab of the file browser page, or else the right side panel of a notebook page.
   */
  placeMain(widget: Widget): void {
    const shell = this.app.shell as any;
    if (this.isLab) {
      if (!widget.isAttached) shell.add(widget, 'main');
      shell.activateById(widget.id);
      return;
    }
    const main = shell.currentWidget as Widget | null;
    if (isTabPanel(main)) {
      if (widget.parent !== main) main.addWidget(widget);
      main.currentWidget = widget;
      return;
    }
    if (!widget.isAttached) shell.add(widget, 'right', { rank: 100 });
    if (typeof shell.expandRight === 'function') shell.expandRight(widget.id);
    else shell.activateById(widget.id);
  }

  /** Open (or show) the view of run `id`, with graph node `task` selected when given. */
  async openRun(id: string, task?: string | null): Promise<RunView> {
    let view = this.views.find((v) => v.runId === id);
    if (!view) {
      view = new RunView(this.api, this.events, {
        openNotebook: (run, t, node) => void this.openExecuted(run, t, node),
        goToCell: (notebook, template) => void this.goToCell(notebook, template),
        openSource: (notebook) => void this.docManager?.openOrReveal(notebook),
        knownSummary: (run) => this.runs.get(run)
      }, id);
      void this.views.add(view);
    }
    this.placeMain(view);
    await view.ready;
    if (task) await view.select(task);
    return view;
  }

  /** Open the executed notebook of a node: a read-only notebook tab, or its rendered page. */
  async openExecuted(run: string, task: string, node: string | null): Promise<Widget | null> {
    if (this.executedTabs && this.docManager) {
      const widget = this.docManager.openOrReveal(executedPath(run, task, node), EXECUTED_FACTORY);
      return widget ?? null;
    }
    const enc = encodeURIComponent;
    const path = `runs/${enc(run)}/nodes/${enc(task)}/notebook`;
    const query = withQuery(path, { format: 'html', node });
    window.open(URLExt.join(this.api.settings.baseUrl, API_PREFIX, query), '_blank', 'noopener');
    return null;
  }

  /** Open notebook `path` and bring the cell of `template` into view, active. */
  async goToCell(path: string, template: string): Promise<boolean> {
    const panel = this.docManager?.openOrReveal(path) as NotebookPanel | undefined;
    if (!panel || !('content' in panel)) return false;
    await panel.context.ready;
    const notebook = panel.content;
    const sources = notebook.widgets.map((c) => c.model.sharedModel.getSource());
    const index = templateCellIndex(sources, template);
    if (index < 0) return false;
    notebook.activeCellIndex = index;
    notebook.mode = 'command';
    await notebook.scrollToItem(index, 'center');
    const cell = notebook.widgets[index];
    cell.node.classList.add('jp-nbflow-flash');
    setTimeout(() => cell.node.classList.remove('jp-nbflow-flash'), 1500);
    notebook.activate();
    return true;
  }
}
