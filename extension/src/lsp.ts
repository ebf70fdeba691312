// The extension's side of the custom LSP methods (language-server/core/protocol/lsp.ts): one typed
// call per RequestType, answered by the language server process. Whatever reads a model or parses a
// recipe for the extension goes through here, never through core code run in the extension host.
import type { RequestType } from 'vscode-languageserver-protocol';
import type { Ctx } from './ctx';

export class ServerUnavailableError extends Error {
  constructor() {
    super('the QRecipe language server is not running (see the QRecipe output; QRecipe: Restart Language Server)');
  }
}

export async function request<P, R>(ctx: Ctx, type: RequestType<P, R, void>, params: P): Promise<R> {
  const client = ctx.client ?? (await ctx.clientReady);
  if (!client?.isRunning()) throw new ServerUnavailableError();
  // (the client types params through a conditional type that a generic P does not resolve)
  return client.sendRequest(type, params as never);
}
