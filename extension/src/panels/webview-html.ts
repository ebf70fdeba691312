// The HTML shell every QRecipe webview uses: a strict content security policy (nothing but our own
// bundle, loaded with a per-load nonce), theme colours through VS Code's CSS variables, and the
// initial state handed over in a data attribute instead of an inline script.
import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';

export function webviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, opts: { script: string; title: string; initial?: unknown }): string {
  const nonce = randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webviews', opts.script));
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource} 'nonce-${nonce}'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  const initial = opts.initial === undefined ? '' : escapeAttr(JSON.stringify(opts.initial));
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeAttr(opts.title)}</title>
</head>
<body data-initial="${initial}" data-nonce="${nonce}">
<div id="app" role="main" aria-label="${escapeAttr(opts.title)}"></div>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}

/** Options every panel gives: scripts on, and only the extension's dist folder readable. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return { enableScripts: true, retainContextWhenHidden: false, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist')] };
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
