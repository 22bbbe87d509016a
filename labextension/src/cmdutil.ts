// What every command module shares: adding a command (to the palette too), reading string
// arguments, and reporting a failed command in one line.
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import type { CommandRegistry } from '@lumino/commands';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

export const CATEGORY = 'nbflow';
export type Args = ReadonlyPartialJSONObject;

/** A function that adds a command, and lists it in the palette (when there is one) unless told. */
export function commandAdder(commands: CommandRegistry, palette: ICommandPalette | null) {
  return (id: string, options: CommandRegistry.ICommandOptions, inPalette = true): void => {
    commands.addCommand(id, options);
    if (palette && inPalette) palette.addItem({ command: id, category: CATEGORY });
  };
}

/** The non-empty string argument `key`, or null. */
export const str = (args: Args, key: string): string | null =>
  typeof args[key] === 'string' && args[key] ? (args[key] as string) : null;

/** Report a failed command as a notification (one line). */
export function failed(what: string) {
  return (error: unknown) => {
    Notification.error(`${what}: ${(error as Error).message ?? error}`, { autoClose: 8000 });
  };
}
