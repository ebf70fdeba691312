/**
 * QRecipe's version: package.json's `version`, written into every bundle by esbuild
 * (extension/scripts/esbuild.mjs defines QRECIPE_VERSION); 'dev' in code run without the bundler.
 */
declare const QRECIPE_VERSION: string | undefined;

export const VERSION: string = typeof QRECIPE_VERSION === 'string' ? QRECIPE_VERSION : 'dev';
