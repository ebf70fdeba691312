// "Run | Check" at the top of every recipe.
import * as vscode from 'vscode';

export class RecipeCodeLens implements vscode.CodeLensProvider {
  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    return [
      new vscode.CodeLens(top, { title: '$(play) Run', command: 'qrecipe.runRecipe', arguments: [doc.uri], tooltip: 'Run this recipe (QRecipe: Run Recipe)' }),
      new vscode.CodeLens(top, { title: '$(check) Check', command: 'qrecipe.checkRecipe', arguments: [doc.uri], tooltip: 'Check this recipe against its model without running it' }),
    ];
  }
}
