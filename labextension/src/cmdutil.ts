// What every command module shares: the palette category, reading string arguments, and
// reporting a failed command in one line.
import { Notification } from '@jupyterlab/apputils';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

export const CATEGORY = 'nbflow';
export type Args = ReadonlyPartialJSONObject;

/** The non-empty string argument `key`, or null. */
export const str = (args: Args, key: string): string | null =>
  typeof args[key] === 'string' && args[key] ? (args[key] as string) : null;

/** Report a failed command as a notification (one line). */
export function failed(what: string) {
  return (error: unknown) => {
    Notification.error(`${what}: ${(error as Error).message ?? error}`, { autoClose: 8000 });
  };
}
