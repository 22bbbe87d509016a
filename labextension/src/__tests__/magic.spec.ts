import {
  cellMagic,
  editedSince,
  lineTemplate,
  manifestName,
  runCode,
  suggestName,
  withMagic
} from '../magic';

describe('cellMagic', () => {
  it('reads a template line with options, after blank lines', () => {
    const m = cellMagic('\n\n%%template generate --outputs rows --param n=4\nrows = [1]\n');
    expect(m).toEqual({ kind: 'template', name: 'generate', body: 'rows = [1]\n' });
  });

  it('reads setup cells with and without a name, and workflows', () => {
    expect(cellMagic('%%setup\nimport random')).toEqual({ kind: 'setup', name: '', body: 'import random' });
    expect(cellMagic('%%setup common\nx = 1')?.name).toBe('common');
    expect(cellMagic('%%workflow nightly --parallelism 2\na >> b')?.kind).toBe('workflow');
  });

  it('ignores plain code and other magics', () => {
    expect(cellMagic('x = 1\n%%template later')).toBeNull();
    expect(cellMagic('%%timeit\nx = 1')).toBeNull();
    expect(cellMagic('%%templates x\n')).toBeNull();
  });

  it('reads whole-notebook templates', () => {
    expect(lineTemplate('%template report --notebook report.ipynb')).toBe('report');
    expect(lineTemplate('%%template report')).toBeNull();
  });
});

describe('withMagic', () => {
  it('puts a template line on top and keeps the code', () => {
    expect(withMagic('x = 1\ny = 2', 'template', 'train')).toBe('%%template train\nx = 1\ny = 2');
  });

  it('replaces an nbflow magic line the cell had', () => {
    expect(withMagic('%%template old --outputs x\nx = 1', 'template', 'new')).toBe('%%template new\nx = 1');
    expect(withMagic('%%template old\nx = 1', 'setup')).toBe('%%setup\nx = 1');
  });

  it('writes a magic line into an empty cell', () => {
    expect(withMagic('', 'setup')).toBe('%%setup\n');
  });

  it('refuses names that are not Python names', () => {
    expect(() => withMagic('x = 1', 'template', 'bad name')).toThrow('not a valid template name');
    expect(() => withMagic('x = 1', 'template', '1st')).toThrow();
  });
});

describe('suggestName', () => {
  it('names a template after the first variable it assigns', () => {
    expect(suggestName('import os\nmodel = fit()\n')).toBe('model');
    expect(suggestName('total += 1')).toBe('total');
  });

  it('avoids names in use, comparisons and private names', () => {
    expect(suggestName('model = 1', ['model'])).toBe('model_1');
    expect(suggestName('x == 1')).toBe('step_1');
    expect(suggestName('_tmp = 1', ['step_1'])).toBe('step_2');
  });
});

function workflowWith(code: string, setup: string, encode = false) {
  const nb = {
    cells: [
      { id: 'nbflow-setup', cell_type: 'code', source: setup },
      { id: 'nbflow-template', cell_type: 'code', source: code }
    ]
  };
  const text = JSON.stringify(nb);
  const data = encode ? Buffer.from(text, 'utf-8').toString('base64') : text;
  return {
    spec: {
      templates: [
        { name: 'main', dag: { tasks: [] } },
        { name: 'fit-model', inputs: { artifacts: [{ name: 'nbflow-step', raw: { data } }] } }
      ]
    }
  };
}

describe('runCode and editedSince', () => {
  it('reads the code a run executed, plain or base64 (code with braces)', () => {
    for (const encode of [false, true]) {
      const code = runCode(workflowWith('y = {{x}}\n', 'import random', encode));
      expect(code.templates.get('fit-model')).toBe('y = {{x}}\n');
      expect(code.setup).toBe('import random');
    }
  });

  it('says whether a template or setup cell changed since the run', () => {
    const code = runCode(workflowWith('a = 1\nb = 2', 'import random\nimport statistics'));
    const cell = (src: string) => cellMagic(src)!;
    expect(editedSince(cell('%%template fit_model\na = 1\nb = 2  \n'), code)).toBe(false);
    expect(editedSince(cell('%%template fit_model\na = 1\nb = 3'), code)).toBe(true);
    expect(editedSince(cell('%%template other\na = 1'), code)).toBeNull();
    expect(editedSince(cell('%%setup\nimport statistics'), code)).toBe(false);
    expect(editedSince(cell('%%setup\nimport numpy'), code)).toBe(true);
  });

  it('maps names as manifests do', () => {
    expect(manifestName('fit_model_2')).toBe('fit-model-2');
  });
});
