// The actions a run view offers: what the run's driver can do, narrowed by the run's state.
import type { Action, RunGraph, RunSummary } from './api';
import { isFinal } from './format';

/** The actions a run offers now: from its summary and node states, among what its driver can
 * do (`graph.can`, as nbflow.widget.actions.available_actions decides in the kernel). */
export function offeredActions(summary: RunSummary | null, graph: RunGraph | null): Action[] {
  if (!summary) return [];
  const final = isFinal(summary.phase);
  const suspended = Object.values(graph?.nodes ?? {}).some((n) => n.suspended);
  const out: Action[] = [];
  if (summary.live && !final) out.push('stop');
  if (suspended && summary.live) out.push('resume');
  if (!summary.live && (summary.phase === 'Failed' || summary.phase === 'Error')) out.push('retry');
  if (!summary.live && !final) out.push('resume_run');
  if (!summary.live && final && summary.notebook) out.push('rerun');
  const can = graph?.can;
  return can ? out.filter((a) => can.includes(a)) : out;
}
