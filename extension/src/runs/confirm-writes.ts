// Asking the user before a run writes outside the workspace or replaces a file (issue 20 #1). The
// runner decides what needs consent (its `write-refused` event, core/util/confine.ts); the extension
// only asks, then starts the run again with --allow-outside / --force. Writes over an input or into
// the run store are never offered.
import * as vscode from 'vscode';
import type { RunnerEvent } from '../../../language-server/core/protocol/runner';

export type WriteRefused = Extract<RunnerEvent, { type: 'write-refused' }>;
export interface WriteConsent { allowOutside?: boolean; force?: boolean }

/** The consent to run again with, or undefined when the user declines or nothing may be allowed. */
export async function confirmWrites(recipe: string, refused: WriteRefused, had: WriteConsent): Promise<WriteConsent | undefined> {
  if (refused.problems.some((p) => p.kind === 'protected')) return undefined;
  const outside = refused.problems.filter((p) => p.kind === 'outside');
  const exists = refused.problems.filter((p) => p.kind === 'exists');
  const what = [...outside.map((p) => `write ${p.path}, outside the workspace`), ...exists.map((p) => `replace ${p.path}, which already exists`)];
  const pick = await vscode.window.showWarningMessage(
    `${recipe} would ${what.join(' and ')}. Allow it?`,
    { modal: true, detail: refused.problems.map((p) => p.message).join('\n') },
    'Allow',
  );
  if (pick !== 'Allow') return undefined;
  return { allowOutside: had.allowOutside || outside.length > 0, force: had.force || exists.length > 0 };
}

/** Runner flags for a consent. */
export function consentArgs(c: WriteConsent): string[] {
  return [...(c.allowOutside ? ['--allow-outside'] : []), ...(c.force ? ['--force'] : [])];
}
