// Styles of the Sensitivity view: theme colours only, through VS Code's CSS variables.
export const STYLES = `
  body { color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); padding: 0 16px 24px; }
  .muted, .label { color: var(--vscode-descriptionForeground); }
  .label { margin: 10px 0 4px; }
  .bad { color: var(--vscode-errorForeground); }
  .status { min-height: 1.6em; display: flex; align-items: center; gap: 8px; }
  .status.error { color: var(--vscode-errorForeground); }
  .status .ring { width: 16px; height: 16px; }
  .pbox { flex: 1 1 auto; min-width: 200px; }
  .pbar { height: 4px; background: var(--vscode-editorWidget-background); margin-top: 4px; }
  .pfill { height: 100%; background: var(--vscode-progressBar-background, var(--vscode-focusBorder)); }
  .explain { flex-basis: 100%; font-size: 0.9em; margin-top: 4px; }
  .written { flex-basis: 100%; margin-top: 4px; color: var(--vscode-testing-iconPassed, var(--vscode-foreground)); }
  svg.chart .grid { stroke: var(--vscode-widget-border, rgba(128,128,128,0.25)); stroke-dasharray: 2 3; }
  .legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: 0.9em; color: var(--vscode-descriptionForeground); margin-top: 4px; }
  .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 50%; vertical-align: middle; }
  .swatch.line { height: 2px; border-radius: 0; width: 14px; background: var(--vscode-charts-blue); }
  .swatch.current { background: var(--vscode-charts-orange); }
  .swatch.measured { background: var(--vscode-charts-purple); }
  .heatlegend { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; margin-bottom: 6px; color: var(--vscode-descriptionForeground); }
  .heatlegend .ramp { display: inline-block; width: 120px; height: 10px; background: linear-gradient(to right, var(--vscode-editor-background), var(--vscode-charts-red)); border: 1px solid var(--vscode-widget-border, transparent); }
  .head { display: flex; justify-content: space-between; align-items: center; flex-wrap: wrap; gap: 8px; margin: 6px 0; }
  .tabs { display: flex; gap: 2px; }
  .tab { background: none; color: var(--vscode-foreground); border: none; border-bottom: 2px solid transparent; padding: 4px 10px; cursor: pointer; font: inherit; }
  .tab[aria-selected="true"] { border-bottom-color: var(--vscode-panelTitle-activeBorder, var(--vscode-focusBorder)); }
  .tab:focus-visible, .grow:focus-visible, .scell:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
  .notes { color: var(--vscode-editorWarning-foreground); margin: 4px 0; }
  .controls { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; margin: 8px 0; }
  select { background: var(--vscode-dropdown-background); color: var(--vscode-dropdown-foreground); border: 1px solid var(--vscode-dropdown-border, transparent); padding: 2px 4px; font: inherit; }
  input[type=range] { flex: 1 1 260px; min-width: 200px; accent-color: var(--vscode-focusBorder); }
  .readout { flex-basis: 100%; font-variant-numeric: tabular-nums; }
  .row { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
  .details { flex: 1 1 360px; min-width: 300px; }
  svg.chart { background: var(--vscode-editorWidget-background); border: 1px solid var(--vscode-widget-border, transparent); }
  svg.chart text { fill: var(--vscode-foreground); font-size: 10px; }
  svg.chart .axis { stroke: var(--vscode-descriptionForeground); }
  svg.chart .front { stroke: var(--vscode-charts-blue); fill: none; stroke-width: 1.5; }
  svg.chart .current { fill: var(--vscode-charts-orange); stroke: var(--vscode-editor-background); stroke-width: 1.5; }
  svg.chart .measured { fill: var(--vscode-charts-purple); }
  /* a narrow panel scrolls sideways instead of letting the size labels run over each other */
  .grid { margin-top: 12px; font-size: 0.92em; overflow-x: auto; }
  .grow { display: grid; grid-template-columns: minmax(150px, 280px) repeat(var(--cands, 4), 56px) minmax(40px, 1fr) minmax(130px, max-content); align-items: center; gap: 2px; padding: 1px 2px; cursor: default; }
  .grow.head { font-weight: 600; color: var(--vscode-descriptionForeground); }
  .grow.selected { background: var(--vscode-list-activeSelectionBackground); color: var(--vscode-list-activeSelectionForeground); }
  .grow:hover:not(.head) { background: var(--vscode-list-hoverBackground); }
  .name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; display: flex; min-width: 0; }
  .name .nhead { overflow: hidden; text-overflow: ellipsis; flex: 0 1 auto; min-width: 1.5em; }
  .name .ntail { flex: 0 0 auto; }
  .name .pin-badge { flex: 0 0 auto; }
  /* a text badge, not an emoji: emoji fonts are missing on many Linux desktops */
  .pin-badge { font-size: 0.8em; padding: 0 3px; margin-right: 4px; border-radius: 3px; color: var(--vscode-badge-foreground); background: var(--vscode-badge-background); }
  .cell { text-align: center; font-variant-numeric: tabular-nums; font-size: 0.9em; padding: 2px 0; cursor: pointer;
    background: color-mix(in srgb, var(--vscode-charts-red) var(--heat, 0%), var(--vscode-editor-background)); border: 1px solid transparent; }
  .cell.none { background: none; cursor: default; }
  .cell.chosen { border-color: var(--vscode-focusBorder); font-weight: 600; }
  .cell.pinned { outline: 2px dashed var(--vscode-charts-yellow); outline-offset: -2px; }
  .bar { position: relative; height: 16px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis; }
  .fill { position: absolute; left: 0; top: 2px; bottom: 2px; opacity: 0.8; }
  .barlabel { padding-left: 6px; font-size: 0.85em; white-space: nowrap; font-variant-numeric: tabular-nums; }
  .b2 { background: var(--vscode-charts-red); }
  .b3 { background: var(--vscode-charts-orange); }
  .b4 { background: var(--vscode-charts-green); }
  .b5 { background: var(--vscode-charts-purple); }
  .b8 { background: var(--vscode-charts-blue); }
  table.cands { border-collapse: collapse; margin: 6px 0; }
  table.cands th, table.cands td { padding: 2px 8px; border-bottom: 1px solid var(--vscode-widget-border, var(--vscode-editorWidget-border)); }
  table.cands tr.chosen td { font-weight: 600; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  .faith { margin: 8px 0; }
  .tokens { font-family: var(--vscode-editor-font-family); white-space: pre-wrap; line-height: 1.8; }
  .tok { background: color-mix(in srgb, var(--vscode-charts-red) var(--heat, 0%), transparent); padding: 1px 0; }
  .tok.neg { background: color-mix(in srgb, var(--vscode-charts-blue) var(--heat, 0%), transparent); }
  canvas.pixels { image-rendering: pixelated; width: min(100%, 640px); border: 1px solid var(--vscode-widget-border, transparent); }
  .strip { display: flex; gap: 2px; align-items: flex-end; height: 48px; }
  .scell { position: relative; flex: 1 1 8px; max-width: 24px; height: 100%;
    background: color-mix(in srgb, var(--vscode-charts-red) var(--heat, 0%), var(--vscode-editorWidget-background)); }
  .sfill { position: absolute; left: 0; right: 0; bottom: 0; background: var(--vscode-charts-blue); opacity: 0.6; }
`;
