// Notifications (Lab's notification API) when a run finishes or fails, with a link to its view.
import { Notification } from '@jupyterlab/apputils';
import { CommandRegistry } from '@lumino/commands';

import type { RunSummary } from './api';
import { CommandIDs } from './commandids';
import type { RunEvents } from './events';
import { finishMessage, outcome } from './runs';

/** Follows every run's phase; notifies once when one seen running (or started since the page
 * loaded) succeeds or fails. */
export class RunNotifier {
  constructor(
    events: RunEvents,
    private readonly commands: CommandRegistry,
    private readonly since: number = Date.now()
  ) {
    events.runChanged.connect((_, run) => this.take(run), this);
  }

  /** Remember runs known without a change (the first page of the list, say). */
  know(runs: readonly RunSummary[]): void {
    for (const run of runs) if (!this.seen.has(run.id)) this.seen.set(run.id, run);
  }

  /** Take a changed run; returns the notification's id when it notified. */
  take(run: RunSummary): string | null {
    const before = this.seen.get(run.id);
    this.seen.set(run.id, run);
    const result = outcome(before, run, this.since);
    if (!result) return null;
    const actions = [
      { label: 'Open run', caption: `Open the view of run ${run.id}`, callback: () => void this.commands.execute(CommandIDs.openRun, { id: run.id }) }
    ];
    const message = finishMessage(run);
    return result === 'succeeded'
      ? Notification.success(message, { autoClose: 8000, actions })
      : Notification.error(message, { autoClose: false, actions });
  }

  private seen = new Map<string, RunSummary>();
}
