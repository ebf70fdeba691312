// Workspace trust, one gate for every command that runs native code or onnxruntime on the
// workspace's files (issue 20 #5): running a recipe, exporting a run, sensitivity and SPADE. In an
// untrusted workspace they refuse with one message (and a button to manage trust); editing recipes
// with diagnostics, inspecting a model (the language server reads it as protobuf, never runs it),
// comparing and browsing runs keep working. Views restored by VS Code never compute: they say why.
import * as vscode from 'vscode';
import type { Ctx } from './ctx';

/** What each gated action does, for the message ("Running a recipe runs native code ..."). */
export type GatedAction = 'Running a recipe' | 'Exporting a run' | 'Measuring sensitivity' | 'Tracing with SPADE';

export function untrustedMessage(action: GatedAction): string {
  return `QRecipe: ${action} runs native code and onnxruntime on the workspace's model files, which an untrusted workspace does not allow. Trust this workspace (Manage Workspace Trust) to do it.`;
}

/**
 * True when the workspace is trusted. Otherwise logs the refusal and, unless `quiet` (a view being
 * restored, not a user's click), tells the user why with a button to manage trust.
 */
export function requireTrust(ctx: Ctx, action: GatedAction, opts: { quiet?: boolean } = {}): boolean {
  if (vscode.workspace.isTrusted) return true;
  ctx.output.warn(`refused in an untrusted workspace: ${action}`);
  if (!opts.quiet) {
    void vscode.window.showErrorMessage(untrustedMessage(action), 'Manage Workspace Trust').then((pick) => {
      if (pick) void vscode.commands.executeCommand('workbench.trust.manage');
    });
  }
  return false;
}
