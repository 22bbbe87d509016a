// Dialogs and small views of the notebook actions: parameters, lint problems, the compiled
// manifest, a schedule.
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { ApiError, LintProblem, NbflowApi } from './api';
import { button, h } from './dom';
import { parseParameters } from './format';

/** A dialog body with one text area; its value is the text. */
class TextAreaBody extends Widget implements Dialog.IBodyWidget<string> {
  constructor(label: string, placeholder: string, value = '') {
    super();
    this.area = h('textarea', { class: 'jp-nbflow-textarea', rows: 6, placeholder }) as HTMLTextAreaElement;
    this.area.value = value;
    this.node.append(h('label', { class: 'jp-nbflow-muted' }, label), this.area);
  }

  getValue(): string {
    return this.area.value;
  }

  protected onAfterAttach(): void {
    this.area.focus();
  }

  private area: HTMLTextAreaElement;
}

/** Ask for `name=value` lines; null when cancelled. Asks again after a bad line. */
export async function askParameters(workflow: string): Promise<Record<string, string> | null> {
  let text = '';
  let problem = '';
  for (;;) {
    const label = `Parameters of ${workflow}, one name=value per line${problem ? `\n${problem}` : ''}`;
    const result = await showDialog({
      title: `Run ${workflow}`,
      body: new TextAreaBody(label, 'n_rows=1000', text),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Run' })]
    });
    if (!result.button.accept) return null;
    text = result.value ?? '';
    try {
      return parseParameters(text);
    } catch (error) {
      problem = (error as Error).message;
    }
  }
}

/** Show lint problems (or that there are none). */
export async function showLint(workflow: string, problems: LintProblem[]): Promise<void> {
  const body = problems.length
    ? h(
        'ul',
        { class: 'jp-nbflow-lint' },
        problems.map((p) =>
          h('li', { 'data-level': p.level }, h('b', {}, p.level), ' ', p.where ? `${p.where}: ` : '', p.message)
        )
      )
    : h('div', { class: 'jp-nbflow-lint-ok' }, `No problems found in ${workflow}.`);
  await showDialog({
    title: `Lint: ${workflow}`,
    body: new Widget({ node: body }),
    buttons: [Dialog.okButton()]
  });
}

/** The compiled manifest of a workflow, read-only, with a copy button. */
export class ManifestView extends Widget {
  constructor(path: string, workflow: string, yaml: string) {
    super();
    this.id = `nbflow-manifest-${workflow}-${Math.random().toString(36).slice(2, 8)}`;
    this.addClass('jp-nbflow-Manifest');
    this.title.label = `${workflow}.yaml`;
    this.title.caption = `Argo manifest of ${workflow} (${path})`;
    this.title.closable = true;
    const pre = h('pre', { class: 'jp-nbflow-Manifest-yaml' }, yaml);
    const copy = button('Copy', 'jp-nbflow-copy', () => void navigator.clipboard?.writeText(yaml));
    this.node.append(h('div', { class: 'jp-nbflow-RunView-bar' }, h('b', {}, `${workflow}`), ` from ${path} `, copy), pre);
  }
}

/**
 * Schedule `workflow` of notebook `path` through the schedules API (a cron line, then
 * optionally a time zone; the server's reading of it is shown before anything is created);
 * without that API, say what is missing. The schedule's name, or null when cancelled.
 */
export async function scheduleWorkflow(
  api: NbflowApi,
  path: string,
  workflow: string
): Promise<string | null> {
  try {
    await api.schedules();
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) {
      await showDialog({
        title: 'Schedules are not available',
        body:
          'This Jupyter server has no nbflow schedules API (GET nbflow/api/schedules answered ' +
          `${error.status}): it needs the nbflow scheduler. Meanwhile, the %%workflow line's ` +
          '--schedule option puts a cron schedule into the compiled CronWorkflow.',
        buttons: [Dialog.okButton()]
      });
      return null;
    }
    throw error;
  }
  let text = '';
  for (;;) {
    const result = await showDialog({
      title: `Schedule ${workflow}`,
      body: new TextAreaBody(
        'A cron line (minute hour day month weekday); a time zone on a second line, if not UTC',
        '0 2 * * *\nEurope/Paris',
        text
      ),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Next' })]
    });
    if (!result.button.accept || !result.value?.trim()) return null;
    text = result.value;
    const [cron, timezone] = text.trim().split('\n').map((s) => s.trim());
    let described: { text: string; next: string[] };
    try {
      described = await api.describeCron(cron, timezone || undefined);
    } catch (error) {
      const body = (error as Error).message;
      const title = error instanceof ApiError && error.status === 400 ? 'Not a schedule' : 'nbflow';
      await showDialog({ title, body, buttons: [Dialog.okButton()] });
      continue;
    }
    const confirm = await showDialog({
      title: `Schedule ${workflow}`,
      body: new Widget({
        node: h(
          'div',
          { class: 'jp-nbflow-schedule' },
          h('p', {}, `${workflow} of ${path}: ${described.text}.`),
          h('p', { class: 'jp-nbflow-muted' }, `Next: ${described.next.slice(0, 3).join(', ')}`)
        )
      }),
      buttons: [Dialog.cancelButton({ label: 'Back' }), Dialog.okButton({ label: 'Schedule' })]
    });
    if (!confirm.button.accept) continue;
    const body = { notebook: path, workflow, schedules: [cron], ...(timezone ? { timezone } : {}) };
    const created = await api.createSchedule(body);
    return String(created?.name ?? workflow);
  }
}
