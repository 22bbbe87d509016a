// DOM helpers of the extension's widgets (the same `h` as the shared graph renderer).
import { h } from '../../nbflow/widget/static/graph.js';

export { h };

/** A button with a class and a click handler. */
export function button(
  label: string,
  cls: string,
  onClick: () => void,
  attrs: Record<string, unknown> = {}
): HTMLButtonElement {
  const el = h('button', { class: `jp-nbflow-button ${cls}`, type: 'button', ...attrs }, label);
  el.addEventListener('click', (ev: Event) => {
    ev.stopPropagation();
    onClick();
  });
  return el as HTMLButtonElement;
}

/**
 * Arrow keys move the focus between `selector` items inside `root`, Home/End to the ends;
 * Enter on an item calls `open(item)`.
 */
export function listKeys(root: HTMLElement, selector: string, open: (item: HTMLElement) => void) {
  root.addEventListener('keydown', (ev: KeyboardEvent) => {
    const items = Array.from(root.querySelectorAll<HTMLElement>(selector));
    const at = items.indexOf(ev.target as HTMLElement);
    if (at < 0) return;
    let next = -1;
    if (ev.key === 'ArrowDown') next = Math.min(items.length - 1, at + 1);
    else if (ev.key === 'ArrowUp') next = Math.max(0, at - 1);
    else if (ev.key === 'Home') next = 0;
    else if (ev.key === 'End') next = items.length - 1;
    else if (ev.key === 'Enter') {
      ev.preventDefault();
      open(items[at]);
      return;
    } else return;
    ev.preventDefault();
    items[next].focus();
  });
}

/** Put a performance mark once the page has painted what was just drawn (after the next frame). */
export function markPainted(name: string): void {
  requestAnimationFrame(() => setTimeout(() => performance.mark(name), 0));
}
