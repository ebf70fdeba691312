// ESLint flat config: typescript-eslint's recommended rules over every TypeScript source, and the
// layering of docs/ARCHITECTURE.md (extension/scripts/eslint-layering.mjs) over the product folders.
import tseslint from 'typescript-eslint';
import layering from './extension/scripts/eslint-layering.mjs';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'out/**', 'native/build/**', '.tools/**', '.qrecipe/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // Long strings, templates and regular expressions (messages, docs) may run on; code wraps.
      'max-len': ['error', { code: 180, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true, ignoreUrls: true }],
    },
  },
  {
    files: ['language-server/**/*.ts', 'extension/**/*.ts', 'webviews/**/*.ts', 'native/**/*.ts'],
    plugins: { qrecipe: layering },
    rules: { 'qrecipe/layering': 'error' },
  },
);
