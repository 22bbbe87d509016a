// nbflow's cell magics as the notebook's text shows them: reading and writing the magic line.

export type MagicKind = 'template' | 'setup' | 'workflow';

export interface CellMagic {
  kind: MagicKind;
  /** The template's or workflow's name; the setup block's optional name; '' if none. */
  name: string;
  /** The cell's code below the magic line. */
  body: string;
}

const MAGIC = /^%%(template|setup|workflow)(?=[ \t\r\n]|$)(?:[ \t]+([^\s-][^\s]*))?[^\n]*(?:\n|$)/;
const LINE_TEMPLATE = /^%template[ \t]+([^\s-][^\s]*)/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The nbflow cell magic that starts `source`, or null. */
export function cellMagic(source: string): CellMagic | null {
  const text = source.replace(/^(?:[ \t]*\r?\n)+/, '');
  const m = MAGIC.exec(text);
  if (!m) return null;
  return { kind: m[1] as MagicKind, name: m[2] ?? '', body: text.slice(m[0].length) };
}

/** The template name of a whole-notebook `%template NAME --notebook ...` line, or null. */
export function lineTemplate(source: string): string | null {
  const m = LINE_TEMPLATE.exec(source.trim());
  return m ? m[1] : null;
}

/** Whether `name` can name a template (a Python identifier). */
function isTemplateName(name: string): boolean {
  return NAME.test(name);
}

/**
 * A name for a new template: the first variable the cell assigns, else `step_N`, never one
 * of `taken`.
 */
export function suggestName(source: string, taken: Iterable<string> = []): string {
  const used = new Set(taken);
  const assigned = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?:[-+*/%|&^]|\*\*|\/\/)?=(?!=)/m.exec(source);
  let base = assigned && !assigned[1].startsWith('_') ? assigned[1] : 'step';
  if (/^(nbflow|setup|template|workflow)$/.test(base)) base = 'step';
  if (!used.has(base) && base !== 'step') return base;
  for (let i = 1; ; i++) {
    const name = `${base}_${i}`;
    if (!used.has(name)) return name;
  }
}

/**
 * `source` as a template (`kind` "template", named `name`) or setup cell: a magic line on top.
 * The cell's code stays as it is; an nbflow magic line it had is replaced.
 */
export function withMagic(source: string, kind: 'template' | 'setup', name = ''): string {
  if (kind === 'template' && !isTemplateName(name)) {
    throw new Error(`"${name}" is not a valid template name (letters, digits and _)`);
  }
  const current = cellMagic(source);
  const body = current ? current.body : source;
  const line = kind === 'template' ? `%%template ${name}` : '%%setup';
  return body ? `${line}\n${body}` : `${line}\n`;
}

/** The code a run executed for each template and its setup, read from the run's manifest. */
export interface RunCode {
  templates: Map<string, string>;
  setup: string;
}

/** The step notebooks' code in a Workflow object (manifest template names, `_` shown as `-`). */
export function runCode(workflow: any): RunCode {
  const out: RunCode = { templates: new Map(), setup: '' };
  for (const t of workflow?.spec?.templates ?? []) {
    const step = (t.inputs?.artifacts ?? []).find((a: any) => a.name === 'nbflow-step');
    const data: string | undefined = step?.raw?.data;
    if (!data) continue;
    let nb: any;
    try {
      nb = JSON.parse(data.trimStart().startsWith('{') ? data : decodeBase64(data));
    } catch {
      continue;
    }
    for (const cell of nb.cells ?? []) {
      const source = Array.isArray(cell.source) ? cell.source.join('') : String(cell.source ?? '');
      if (cell.id === 'nbflow-template') out.templates.set(t.name, source);
      if (cell.id === 'nbflow-setup' && source.length > out.setup.length) out.setup = source;
    }
  }
  return out;
}

/** UTF-8 text from base64 (percent-decoding the bytes decodes UTF-8 everywhere). */
function decodeBase64(data: string): string {
  const hex = Array.from(atob(data), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'));
  return decodeURIComponent(hex.join(''));
}

/** A template's name in manifests (as nbflow.model.k8s_name). */
export function manifestName(name: string): string {
  return name.replace(/_/g, '-');
}

const norm = (code: string) => code.replace(/[ \t]+$/gm, '').trim();

/** Whether the cell's code differs from what the run executed for it (null: unknown). */
export function editedSince(magic: CellMagic, code: RunCode): boolean | null {
  if (magic.kind === 'template') {
    const ran = code.templates.get(manifestName(magic.name));
    return ran === undefined ? null : norm(ran) !== norm(magic.body);
  }
  if (magic.kind === 'setup') {
    if (!code.setup) return null;
    return !norm(code.setup).includes(norm(magic.body));
  }
  return null;
}
