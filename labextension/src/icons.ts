// The extension's icons (Lab's icon system, so they follow the theme).
import { LabIcon } from '@jupyterlab/ui-components';

const svg = (body: string) =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">` +
  `<g class="jp-icon3" fill="#616161">${body}</g></svg>`;

/** Three linked boxes: the sidebar's tab. */
export const pipelineIcon = new LabIcon({
  name: 'nbflow:pipeline',
  svgstr: svg(
    '<rect x="2" y="3" width="7" height="5" rx="1"/><rect x="15" y="3" width="7" height="5" rx="1"/>' +
      '<rect x="8.5" y="16" width="7" height="5" rx="1"/>' +
      '<path d="M5.5 8v3.5h13V8h-1.6v2H7.1V8zM11.2 11.5h1.6V16h-1.6z"/>'
  )
});

/** A box with a plus: "make this cell a template". */
export const templateIcon = new LabIcon({
  name: 'nbflow:template',
  svgstr: svg(
    '<path d="M4 4h11v2H6v12h12v-6h2v8H4z"/><path d="M17 2h2v3h3v2h-3v3h-2V7h-3V5h3z"/>'
  )
});

/** Stacked lines: "make this cell a setup cell". */
export const setupIcon = new LabIcon({
  name: 'nbflow:setup',
  svgstr: svg('<path d="M3 5h18v2H3zM3 11h12v2H3zM3 17h18v2H3z"/><circle cx="19" cy="12" r="2"/>')
});
