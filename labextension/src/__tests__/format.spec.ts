import { ago, basename, isFinal, parseParameters, phaseIcon, runDuration, until } from '../format';
import { answer, ApiError, withQuery } from '../http';

describe('format', () => {
  it('knows final phases and icons', () => {
    expect(isFinal('Succeeded')).toBe(true);
    expect(isFinal('Running')).toBe(false);
    expect(isFinal(null)).toBe(false);
    expect(phaseIcon('Failed')).toBe('✖');
    expect(phaseIcon('Weird')).toBe('?');
  });

  it('shows durations, finished or running', () => {
    const now = Date.parse('2026-01-01T01:00:00Z');
    expect(runDuration({ duration_s: 185, startedAt: null, phase: 'Succeeded' }, now)).toBe('3m05s');
    expect(runDuration({ duration_s: null, startedAt: '2026-01-01T00:59:18Z', phase: 'Running' }, now)).toBe('42s');
    expect(runDuration({ duration_s: null, startedAt: null, phase: 'Pending' }, now)).toBe('');
  });

  it('shows how long ago', () => {
    const now = Date.parse('2026-01-10T12:00:00Z');
    expect(ago('2026-01-10T11:59:50Z', now)).toBe('just now');
    expect(ago('2026-01-10T11:30:00Z', now)).toBe('30 min ago');
    expect(ago('2026-01-10T09:00:00Z', now)).toBe('3 h ago');
    expect(ago('2025-12-01T00:00:00Z', now)).toBe('2025-12-01');
    expect(ago(null, now)).toBe('');
  });

  it('says how far ahead', () => {
    const now = Date.parse('2026-12-07T12:00:00Z');
    expect(until('2026-12-07T12:00:30Z', now)).toBe('in 30 s');
    expect(until('2026-12-07T12:10:00Z', now)).toBe('in 10 min');
    expect(until('2026-12-08T01:00:00Z', now)).toBe('in 13 h');
    expect(until('2026-12-10T12:00:00Z', now)).toBe('in 3 d');
    expect(until('2026-12-07T11:00:00Z', now)).toBe('due');
    expect(until(null, now)).toBe('');
  });

  it('takes base names', () => {
    expect(basename('notebooks/quickstart.ipynb')).toBe('quickstart.ipynb');
    expect(basename(null)).toBe('');
  });

  it('parses parameters, one per line, and names the bad line', () => {
    expect(parseParameters('n_rows=1000\n\n# comment\nname = a=b ')).toEqual({ n_rows: '1000', name: 'a=b' });
    expect(() => parseParameters('n=1\noops')).toThrow('line 2');
    expect(() => parseParameters('1x=2')).toThrow('line 1');
  });
});

describe('http', () => {
  it('builds queries from the set values only', () => {
    expect(withQuery('runs', { limit: 50, phase: '', notebook: 'a b.ipynb', x: undefined })).toBe(
      'runs?limit=50&notebook=a%20b.ipynb'
    );
    expect(withQuery('runs')).toBe('runs');
  });

  it('reads JSON answers, and errors as their one-line message', () => {
    expect(answer(200, 'OK', '{"runs": []}', 'runs')).toEqual({ runs: [] });
    expect(answer(204, 'No Content', '', 'runs/x')).toBeNull();
    const error = (() => {
      try {
        answer(409, 'Conflict', '{"message": "run x is not running"}', 'runs/x/actions/stop');
      } catch (e) {
        return e as ApiError;
      }
    })();
    expect(error).toBeInstanceOf(ApiError);
    expect(error!.message).toBe('run x is not running');
    expect(error!.status).toBe(409);
    expect(() => answer(502, 'Bad Gateway', '<html>', 'runs')).toThrow('<html>');
    expect(() => answer(404, 'Not Found', '', 'runs/y')).toThrow('404 Not Found (runs/y)');
  });
});
