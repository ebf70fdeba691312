/**
 * The write rules the server checks export paths against (QR130/QR131 while typing): the workspace
 * folder that holds the recipe (else the recipe's own folder, as the CLI does), and its run store
 * (`qrecipe.runsFolder` from the client's initialization options, else `.qrecipe/runs`).
 */
import path from 'node:path';
import type { WriteRules } from '../core/recipe/host';
import { runsRoot } from '../core/runs/store';
import { isInside } from '../core/util/confine';
import { uriToPath } from './uri';

/** What the client may pass as `initializationOptions`. */
export interface QRecipeInitOptions { runsFolder?: string }

export class WriteRulesOf {
  private folders: string[] = [];
  private runsFolder = '.qrecipe/runs';

  /** From the initialize request: workspace folders (or the root) and the options. */
  init(p: { workspaceFolders?: { uri: string }[] | null; rootUri?: string | null; initializationOptions?: unknown }): void {
    const uris = p.workspaceFolders?.map((f) => f.uri) ?? (p.rootUri ? [p.rootUri] : []);
    this.folders = uris.filter((u) => u.startsWith('file:')).map(uriToPath);
    const o = p.initializationOptions as QRecipeInitOptions | undefined;
    if (o && typeof o.runsFolder === 'string' && o.runsFolder.trim()) this.runsFolder = o.runsFolder;
  }

  rules(recipeFile: string): WriteRules {
    const file = path.resolve(recipeFile);
    // the innermost workspace folder holding the recipe
    const root = this.folders.filter((f) => isInside(file, f)).sort((a, b) => b.length - a.length)[0] ?? path.dirname(file);
    return { root, runsRoot: runsRoot(root, this.runsFolder) };
  }
}
