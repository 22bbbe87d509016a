// The extension's commands: what the sidebar, the run view, the cell toolbar, the palette and
// the keyboard shortcuts call.
import { ICommandPalette, InputDialog, Notification, showErrorMessage } from '@jupyterlab/apputils';

import type { Action } from './api';
import { Args, commandAdder, failed, str } from './cmdutil';
import { CommandIDs } from './commandids';
import { askParameters, ManifestView, showLint } from './dialogs';
import { setupIcon, templateIcon } from './icons';
import { cellMagic, suggestName, withMagic } from './magic';
import { Nbflow } from './nbflow';
import { askSchedule } from './scheddialog';


/** The notebook and workflow a notebook command is about: from its args, else the open one. */
async function target(nb: Nbflow, args: Args): Promise<{ path: string; workflow: string } | null> {
  const path = str(args, 'path') ?? nb.sidebar.notebookPath ?? nb.currentNotebook()?.context.path ?? null;
  if (!path) {
    await showErrorMessage('nbflow', 'Open a notebook with a %%workflow cell first.');
    return null;
  }
  let workflow = str(args, 'workflow');
  if (!workflow) {
    const { workflows } = await nb.api.workflows(path);
    if (!workflows.length) {
      await showErrorMessage('nbflow', `${path} has no %%workflow cell (in its saved version).`);
      return null;
    }
    if (workflows.length === 1) workflow = workflows[0].name;
    else {
      const choice = await InputDialog.getItem({ title: 'Which workflow?', items: workflows.map((w) => w.name) });
      if (!choice.button.accept || !choice.value) return null;
      workflow = choice.value;
    }
  }
  return { path, workflow };
}

/** Save the notebook at `path` when it is open with unsaved changes: runs read the file. */
async function saveIfOpen(nb: Nbflow, path: string): Promise<void> {
  const panel = nb.notebooks?.find((p) => p.context.path === path);
  if (panel && panel.context.model.dirty) await panel.context.save();
}

async function startRun(nb: Nbflow, args: Args, ask: boolean): Promise<string | null> {
  const where = await target(nb, args);
  if (!where) return null;
  const parameters = ask ? await askParameters(where.workflow) : {};
  if (!parameters) return null;
  await saveIfOpen(nb, where.path);
  const { id } = await nb.api.start(where.path, where.workflow, parameters);
  await nb.openRun(id);
  return id;
}

export function registerCommands(nb: Nbflow, palette: ICommandPalette | null): void {
  const { commands } = nb.app;
  const add = commandAdder(commands, palette);
  const activeCell = () => nb.currentNotebook()?.content.activeCell ?? null;
  const isCode = () => activeCell()?.model.type === 'code';

  add(CommandIDs.openSidebar, {
    label: 'Show the Pipelines sidebar',
    execute: () => nb.showSidebar()
  });
  add(CommandIDs.refresh, {
    label: 'Reload the pipelines and runs',
    execute: () => Promise.all([nb.runs.reload(), nb.sidebar.reloadNotebook(), nb.sidebar.schedules.reload()])
  });
  add(CommandIDs.openRun, {
    label: (args) => (str(args, 'id') ? `Open run ${str(args, 'id')}` : 'Open a run…'),
    execute: async (args) => {
      let id = str(args, 'id');
      if (!id) {
        const answer = await InputDialog.getText({ title: 'Open run', placeholder: 'run id' });
        id = answer.button.accept ? answer.value?.trim() || null : null;
      }
      if (id) return nb.openRun(id, str(args, 'task')).catch(failed(`run ${id}`));
    }
  });
  add(CommandIDs.openLatestRun, {
    label: "Open the open notebook's latest run",
    execute: async () => {
      const path = nb.currentNotebook()?.context.path;
      const page = await nb.api.runs({ notebook: path, limit: 1 });
      if (!page.runs.length) return showErrorMessage('nbflow', `No run of ${path ?? 'any notebook'} yet.`);
      return nb.openRun(page.runs[0].id);
    }
  });
  add(CommandIDs.runWorkflow, {
    label: (args) => (str(args, 'workflow') ? `Run ${str(args, 'workflow')}` : 'Run the notebook\'s workflow (no kernel)'),
    caption: 'Run the workflow on the server, without a kernel, as `nbflow run notebook.ipynb` does',
    execute: (args) => startRun(nb, args, false).catch(failed('run'))
  });
  add(CommandIDs.runWithParameters, {
    label: "Run the notebook's workflow with parameters…",
    execute: (args) => startRun(nb, args, true).catch(failed('run'))
  });
  add(CommandIDs.compile, {
    label: (args) => `Compile ${str(args, 'workflow') ?? 'a workflow'} to an Argo manifest`,
    execute: async (args) => {
      const where = await target(nb, args);
      if (!where) return;
      await saveIfOpen(nb, where.path);
      const { yaml } = await nb.api.compile(where.path, where.workflow).catch((e) => {
        failed('compile')(e);
        return { yaml: null };
      });
      if (yaml !== null) nb.placeMain(new ManifestView(where.path, where.workflow, yaml));
    }
  });
  add(CommandIDs.lint, {
    label: (args) => `Lint ${str(args, 'workflow') ?? 'a workflow'}`,
    execute: async (args) => {
      const where = await target(nb, args);
      if (!where) return;
      await saveIfOpen(nb, where.path);
      const { problems } = await nb.api.lint(where.path, where.workflow);
      await showLint(where.workflow, problems);
    }
  });
  add(CommandIDs.schedule, {
    label: (args) => `Schedule ${str(args, 'workflow') ?? 'a workflow'}…`,
    execute: async (args) => {
      const where = await target(nb, args);
      if (!where) return;
      const made = await askSchedule(nb.api, { notebook: where.path, workflow: where.workflow, fixedTarget: true })
        .catch(failed('schedule'));
      if (made) Notification.success(`Scheduled ${where.workflow} as ${made.name}.`, { autoClose: 5000 });
    }
  });
  add(CommandIDs.runAction, {
    label: (args) => `${str(args, 'action') ?? 'Act on'} run ${str(args, 'id') ?? ''}`,
    execute: async (args) => {
      const id = str(args, 'id');
      const action = str(args, 'action') as Action | null;
      if (!id || !action) return;
      const view = await nb.openRun(id);
      await view.act(action, str(args, 'task'));
    }
  }, false);
  add(CommandIDs.deleteRun, {
    label: (args) => `Delete run ${str(args, 'id') ?? ''}`,
    execute: async (args) => {
      const id = str(args, 'id');
      if (!id) return;
      await nb.api.remove(id).catch(failed(`delete ${id}`));
      nb.runs.remove(id);
      nb.views.find((v) => v.runId === id)?.dispose();
    }
  }, false);
  add(CommandIDs.openExecuted, {
    label: 'Open the executed notebook',
    execute: (args) => {
      const run = str(args, 'run');
      const task = str(args, 'task');
      if (run && task) return nb.openExecuted(run, task, str(args, 'node')).catch(failed('open'));
    }
  }, false);
  add(CommandIDs.goToCell, {
    label: 'Go to the cell of a template',
    execute: (args) => {
      const path = str(args, 'path');
      const template = str(args, 'template');
      if (path && template) return nb.goToCell(path, template);
    }
  }, false);
  add(CommandIDs.showCellTask, {
    label: "Show the active cell's task in the latest run",
    isEnabled: () => !!activeCell() && !!cellMagic(activeCell()!.model.sharedModel.getSource()),
    execute: async () => {
      const panel = nb.currentNotebook();
      const magic = cellMagic(activeCell()?.model.sharedModel.getSource() ?? '');
      if (!panel || !magic) return;
      const page = await nb.api.runs({ notebook: panel.context.path, limit: 1 });
      if (!page.runs.length) return showErrorMessage('nbflow', 'This notebook has no run yet.');
      const view = await nb.openRun(page.runs[0].id);
      const graph = view.graphView.st.graph;
      const node = graph.nodes.find((n) => n.template === magic.name.replace(/_/g, '-'));
      if (node) await view.select(node.id);
    }
  });
  add(CommandIDs.makeTemplate, {
    label: 'Make this cell an nbflow template',
    caption: 'nbflow: make this cell a template (writes the %%template line)',
    icon: templateIcon,
    isEnabled: isCode,
    execute: async () => {
      const cell = activeCell();
      const panel = nb.currentNotebook();
      if (!cell || !panel || cell.model.type !== 'code') return;
      const source = cell.model.sharedModel.getSource();
      const taken = panel.content.widgets
        .map((c) => cellMagic(c.model.sharedModel.getSource()))
        .filter((m) => m && m.kind === 'template')
        .map((m) => m!.name);
      const current = cellMagic(source);
      const answer = await InputDialog.getText({
        title: 'Template name',
        text: current?.kind === 'template' ? current.name : suggestName(source, taken),
        placeholder: 'a Python name, e.g. train'
      });
      if (!answer.button.accept || !answer.value) return;
      try {
        cell.model.sharedModel.setSource(withMagic(source, 'template', answer.value.trim()));
      } catch (error) {
        await showErrorMessage('nbflow', (error as Error).message);
      }
    }
  }, true);
  add(CommandIDs.makeSetup, {
    label: 'Make this cell an nbflow setup cell',
    caption: 'nbflow: make this cell a setup cell (writes the %%setup line)',
    icon: setupIcon,
    isEnabled: isCode,
    execute: () => {
      const cell = activeCell();
      if (!cell || cell.model.type !== 'code') return;
      cell.model.sharedModel.setSource(withMagic(cell.model.sharedModel.getSource(), 'setup'));
    }
  });
}
