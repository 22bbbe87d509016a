// Dialogs and small views of the notebook actions: parameters, lint problems, the compiled
// manifest (a schedule's form is in scheddialog.ts).
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { LintProblem } from './api';
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
