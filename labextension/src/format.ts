// Small text helpers of the sidebar and the run view: phases, durations, times.
import { formatSeconds, PHASES } from '../../nbflow/widget/static/graph.js';

const FINAL_PHASES = new Set(['Succeeded', 'Failed', 'Error']);

/** Whether a run or task in `phase` is over. */
export function isFinal(phase: string | null | undefined): boolean {
  return !!phase && FINAL_PHASES.has(phase);
}

/** The icon of `phase` (the graph's table), `?` for an unknown one. */
export function phaseIcon(phase: string): string {
  return (PHASES[phase] || { icon: '?' }).icon;
}

/** The duration of a run: seconds when known, else the time since it started while it runs. */
export function runDuration(
  run: { duration_s: number | null; startedAt: string | null; phase: string },
  now: number = Date.now()
): string {
  if (run.duration_s !== null && run.duration_s !== undefined) return formatSeconds(run.duration_s);
  if (run.startedAt && !isFinal(run.phase)) {
    const started = Date.parse(run.startedAt);
    if (!Number.isNaN(started)) return formatSeconds((now - started) / 1000);
  }
  return '';
}

/** `s` seconds (0 or more) roughly: `40 s`, `5 min`, `3 h`, `2 d`. */
function roughly(s: number): string {
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** Seconds from `now` to `iso` (negative: in the past), or null without a valid time. */
function secondsTo(iso: string | null, now: number): number | null {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? null : (t - now) / 1000;
}

/** "just now", "5 min ago", "3 h ago", "2 d ago", else the date. */
export function ago(iso: string | null, now: number = Date.now()): string {
  const to = secondsTo(iso, now);
  if (to === null) return '';
  const s = Math.max(0, -to);
  if (s < 45) return 'just now';
  if (s < 7 * 86400) return `${roughly(s)} ago`;
  return new Date(Date.parse(iso as string)).toISOString().slice(0, 10);
}

/** How far ahead `iso` is: `in 40 s`, `in 5 min`, `in 3 h`, `in 2 d`, or `due`. */
export function until(iso: string | null, now: number = Date.now()): string {
  const s = secondsTo(iso, now);
  if (s === null) return '';
  return s < 1 ? 'due' : `in ${roughly(s)}`;
}

/** The last part of a path. */
export function basename(path: string | null): string {
  if (!path) return '';
  const parts = path.split('/');
  return parts[parts.length - 1];
}

/** `k=v` lines (blank lines and `#` comments ignored) as parameters; throws on a bad line. */
export function parseParameters(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new Error(`line ${i + 1}: expected name=value, got "${line}"`);
    }
    out[key] = line.slice(eq + 1).trim();
  });
  return out;
}
