// nbflow for JupyterLab and Notebook 7: the Pipelines sidebar, live run views, cell badges,
// read-only executed notebooks, notifications and commands.
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import {
  INotebookTracker,
  INotebookWidgetFactory,
  NotebookPanel,
  NotebookWidgetFactory
} from '@jupyterlab/notebook';

import { provideViz } from '../../nbflow/widget/static/graph.js';
import { CellBadges } from './cells';
import { CommandIDs } from './commandids';
import { registerCommands } from './commands';
import { DRIVE, EXECUTED_FACTORY, ExecutedDrive } from './executed';
import { pipelineIcon } from './icons';
import { Nbflow } from './nbflow';
import { RunNotifier } from './notify';
import { registerScheduleCommands } from './schedcommands';

// Graphviz compiled to WebAssembly: a static file of this extension, loaded on first use by the
// run views and by the widget in notebooks (never part of a notebook's widget state).
const VIZ_URL = new URL('../../nbflow/widget/static/viz-standalone.mjs', import.meta.url);

/** Open executed notebooks as read-only notebook tabs that never start a kernel. */
function setUpExecutedNotebooks(
  app: JupyterFrontEnd,
  nb: Nbflow,
  factory: NotebookWidgetFactory.IFactory | null
): void {
  if (!factory || !nb.docManager || !nb.isLab) return;
  app.serviceManager.contents.addDrive(new ExecutedDrive(nb.api));
  const base = factory as NotebookWidgetFactory; // the default factory: its parts are public
  const readOnly = new NotebookWidgetFactory({
    name: EXECUTED_FACTORY,
    label: 'Executed notebook (read-only)',
    fileTypes: ['notebook'],
    modelName: 'notebook',
    preferKernel: false,
    canStartKernel: false,
    rendermime: base.rendermime,
    contentFactory: base.contentFactory,
    mimeTypeService: base.mimeTypeService,
    editorConfig: base.editorConfig,
    notebookConfig: base.notebookConfig
  });
  readOnly.widgetCreated.connect((_, panel: NotebookPanel) => {
    panel.addClass('jp-nbflow-Executed');
    panel.title.caption = `${panel.context.path} (read-only: executed by nbflow)`;
  });
  app.docRegistry.addWidgetFactory(readOnly);
  nb.executedTabs = true;
}

/** Follow the open notebook: the sidebar shows its workflows; each notebook gets badges. */
function followNotebooks(nb: Nbflow, tracker: INotebookTracker | null): void {
  if (!tracker) return;
  const show = () => {
    const panel = tracker.currentWidget;
    if (panel && panel.context.path.startsWith(`${DRIVE}:`)) return;
    void nb.sidebar.setNotebook(panel ? panel.context.path : null);
  };
  tracker.currentChanged.connect(show);
  tracker.widgetAdded.connect((_, panel) => {
    if (panel.context.path.startsWith(`${DRIVE}:`)) return;
    const badges = new CellBadges(panel, nb.api, nb.events, nb.app.commands);
    panel.disposed.connect(() => badges.dispose());
    panel.context.saveState.connect((_, state) => {
      if (state === 'completed' && panel === tracker.currentWidget) void nb.sidebar.reloadNotebook();
    });
  });
  void tracker.restored?.then(show);
  show();
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'nbflow:plugin',
  description: 'nbflow pipelines: sidebar, run views, cell badges, notifications.',
  autoStart: true,
  optional: [
    ILabShell,
    ICommandPalette,
    IDocumentManager,
    INotebookTracker,
    INotebookWidgetFactory,
    ILayoutRestorer
  ],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell | null,
    palette: ICommandPalette | null,
    docManager: IDocumentManager | null,
    notebooks: INotebookTracker | null,
    notebookFactory: NotebookWidgetFactory.IFactory | null,
    restorer: ILayoutRestorer | null
  ) => {
    provideViz(() => import(/* webpackIgnore: true */ VIZ_URL.href));
    const nb = new Nbflow({ app, isLab: !!labShell, docManager, notebooks });
    nb.sidebar.title.icon = pipelineIcon;
    nb.placeSidebar();
    registerCommands(nb, palette);
    registerScheduleCommands(nb, palette);
    setUpExecutedNotebooks(app, nb, notebookFactory);
    const notifier = new RunNotifier(nb.events, app.commands);
    nb.runs.changed.connect(() => notifier.know(nb.runs.runs));
    if (restorer) {
      void restorer.restore(nb.views, {
        command: CommandIDs.openRun,
        args: (view) => ({ id: view.runId }),
        name: (view) => view.runId
      });
      restorer.add(nb.sidebar, 'nbflow-pipelines');
    }
    followNotebooks(nb, notebooks);
    void nb.sidebar.start();
  }
};

export default [plugin];
