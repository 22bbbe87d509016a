// The schedule form in a dialog: asked again, with the server's one-line reason, until the
// schedule is made or the user cancels.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ApiError, NbflowApi } from './api';
import { schedulesOf, ScheduleSummary } from './schedapi';
import { ScheduleForm } from './schedform';
import { emptyForm, scheduleBody, ScheduleFormValues } from './schedtext';

export interface AskScheduleOptions {
  notebook?: string | null;
  workflow?: string | null;
  /** The notebook and workflow are given and not asked. */
  fixedTarget?: boolean;
}

/** The form as a dialog's body. */
class FormBody extends Widget implements Dialog.IBodyWidget<ScheduleFormValues> {
  constructor(private readonly form: ScheduleForm) {
    super({ node: form.node });
  }

  getValue(): ScheduleFormValues {
    return this.form.getValue();
  }

  dispose(): void {
    this.form.dispose();
    super.dispose();
  }

  protected onAfterAttach(): void {
    this.form.focus();
  }
}

/** Whether this server has the schedules API; says so in a dialog when it has not. */
async function available(api: NbflowApi): Promise<boolean> {
  try {
    await schedulesOf(api).list();
    return true;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
      await showDialog({
        title: 'Schedules are not available',
        body:
          'This Jupyter server has no nbflow schedules API (GET nbflow/api/schedules answered ' +
          `${error.status}). Meanwhile, the %%workflow line's --schedule option puts a cron ` +
          'schedule into the compiled CronWorkflow.',
        buttons: [Dialog.okButton()]
      });
      return false;
    }
    throw error;
  }
}

/** Ask for a new schedule and make it; the new schedule, or null when cancelled. */
export async function askSchedule(api: NbflowApi, opts: AskScheduleOptions = {}): Promise<ScheduleSummary | null> {
  if (!(await available(api))) return null;
  const schedules = schedulesOf(api);
  let values: ScheduleFormValues = emptyForm(opts.notebook ?? '', opts.workflow ?? '');
  let error = '';
  for (;;) {
    const form = new ScheduleForm({
      values,
      error,
      fixedTarget: opts.fixedTarget && !!opts.notebook,
      describe: (crons, zone) => schedules.describe(crons, zone || undefined),
      workflows: async (path) => (await api.workflows(path)).workflows.map((w) => w.name)
    });
    const title = opts.fixedTarget && opts.workflow ? `Schedule ${opts.workflow}` : 'New schedule';
    const result = await showDialog({
      title,
      body: new FormBody(form),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Schedule' })],
      focusNodeSelector: opts.fixedTarget || opts.notebook ? '.jp-nbflow-sf-cron' : '.jp-nbflow-sf-notebook'
    });
    if (!result.button.accept || !result.value) return null;
    values = result.value;
    try {
      return await schedules.create(scheduleBody(values));
    } catch (e) {
      error = (e as Error).message;
    }
  }
}
