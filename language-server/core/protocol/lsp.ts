/**
 * Custom LSP methods of the QRecipe language server (the standard ones need no declaration).
 * Imported by the server (language-server/server/main.ts) and by the extension's client, so both
 * sides share one definition of each method name and its parameter and result types.
 */
import type { ResolvedRecipe } from '../recipe/resolved';

/**
 * Request, client → server: the resolved recipe of an open `.qrecipe` document, as the runner would
 * consume it, with the count of error diagnostics (a run should not start when it is not 0).
 */
export const resolvedRecipeMethod = 'qrecipe/resolvedRecipe';
export interface ResolvedRecipeParams { uri: string }
export interface ResolvedRecipeResult { recipe: ResolvedRecipe; errors: number }

/**
 * Notification, client → server: model files changed outside the editor (e.g. a run exported a
 * model); the server drops its cached layer inventories and re-checks open recipes.
 */
export const modelsChangedMethod = 'qrecipe/modelsChanged';
export interface ModelsChangedParams { paths?: string[] }
