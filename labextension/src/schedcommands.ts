// The commands of schedules (the Schedules section's buttons and the command palette): new,
// pause, resume, run now, delete (confirmed), show history.
import { Dialog, ICommandPalette, InputDialog, Notification, showDialog } from '@jupyterlab/apputils';

import { Args, commandAdder, failed, str } from './cmdutil';
import { CommandIDs } from './commandids';
import { Nbflow } from './nbflow';
import { schedulesOf, ScheduleSummary } from './schedapi';
import { askSchedule } from './scheddialog';


/** The schedule a command is about: its `name` argument, else one the user picks. */
async function pick(nb: Nbflow, args: Args, title: string, fits: (s: ScheduleSummary) => boolean = () => true) {
  const name = str(args, 'name');
  if (name) return name;
  const { schedules } = await schedulesOf(nb.api).list();
  const names = schedules.filter(fits).map((s) => s.name);
  if (!names.length) {
    await showDialog({ title, body: 'No schedule to choose from.', buttons: [Dialog.okButton()] });
    return null;
  }
  const choice = await InputDialog.getItem({ title, items: names });
  return choice.button.accept ? choice.value : null;
}

export function registerScheduleCommands(nb: Nbflow, palette: ICommandPalette | null): void {
  const { commands } = nb.app;
  const schedules = schedulesOf(nb.api);
  const add = commandAdder(commands, palette);
  const named = (args: Args, verb: string, what: string) => (str(args, 'name') ? `${verb} schedule ${str(args, 'name')}` : what);

  add(CommandIDs.newSchedule, {
    label: 'New schedule…',
    caption: 'Run a notebook\'s workflow on a cron schedule (nbflow schedule add)',
    execute: async (args) => {
      const made = await askSchedule(nb.api, {
        notebook: str(args, 'path') ?? nb.sidebar.notebookPath ?? nb.currentNotebook()?.context.path,
        workflow: str(args, 'workflow')
      }).catch(failed('schedule'));
      if (made) Notification.success(`Scheduled ${made.workflow} as ${made.name}: ${made.description}.`, { autoClose: 5000 });
    }
  });
  add(CommandIDs.pauseSchedule, {
    label: (args) => named(args, 'Pause', 'Pause a schedule…'),
    execute: async (args) => {
      const name = await pick(nb, args, 'Pause which schedule?', (s) => !s.suspended);
      if (name) await schedules.act(name, 'pause').catch(failed(`pause ${name}`));
    }
  });
  add(CommandIDs.resumeSchedule, {
    label: (args) => named(args, 'Resume', 'Resume a schedule…'),
    execute: async (args) => {
      const name = await pick(nb, args, 'Resume which schedule?', (s) => s.suspended);
      if (name) await schedules.act(name, 'resume').catch(failed(`resume ${name}`));
    }
  });
  add(CommandIDs.runScheduleNow, {
    label: (args) => named(args, 'Run', 'Run a schedule now…') + (str(args, 'name') ? ' now' : ''),
    execute: async (args) => {
      const name = await pick(nb, args, 'Run which schedule now?');
      if (!name) return;
      const out = await schedules.act(name, 'run-now').catch(failed(`run ${name} now`));
      const run = out && out.run;
      if (!run) return;
      nb.sidebar.schedules.toggleHistory(name, true);
      Notification.info(`Started run ${run} of schedule ${name}.`, {
        autoClose: 5000,
        actions: [{ label: 'Open run', callback: () => void nb.openRun(run) }]
      });
    }
  });
  add(CommandIDs.deleteSchedule, {
    label: (args) => named(args, 'Delete', 'Delete a schedule…'),
    execute: async (args) => {
      const name = await pick(nb, args, 'Delete which schedule?');
      if (!name) return;
      const answer = await showDialog({
        title: `Delete schedule ${name}?`,
        body: 'No run of it fires any more. Its runs stay (running ones go on).',
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
      });
      if (answer.button.accept) await schedules.remove(name).catch(failed(`delete ${name}`));
    }
  });
  add(CommandIDs.scheduleHistory, {
    label: (args) => (str(args, 'name') ? `Show the runs of schedule ${str(args, 'name')}` : 'Show the runs of a schedule…'),
    execute: async (args) => {
      const name = await pick(nb, args, 'Whose runs?');
      if (!name) return;
      nb.showSidebar();
      const section = nb.sidebar.schedules;
      if (!section.schedules.some((s) => s.name === name)) await section.reload();
      section.toggleHistory(name, true);
      section.node.querySelector(`[data-schedule="${CSS.escape(name)}"]`)?.scrollIntoView({ block: 'nearest' });
    }
  });
}
