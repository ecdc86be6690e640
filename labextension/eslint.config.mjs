// ESLint 9 flat config, after jupyterlab/extension-template's
// eslint.config.mjs, keeping the rules of the eslintrc config it replaces.
import js from '@eslint/js';
import jupyterPlugin from '@jupyter/eslint-plugin';
import { defineConfig } from 'eslint/config';
import prettierRecommended from 'eslint-plugin-prettier/recommended';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig([
  {
    ignores: ['node_modules', 'dist', 'coverage', 'lib', '**/*.d.ts', '**/*.js']
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  jupyterPlugin.configs.recommended,
  // Before the project's rules, as `extends` came before `rules` in the
  // eslintrc: it turns off rules that the project turns back on below
  // (curly, prefer-arrow-callback, quotes) in settings that do not fight
  // Prettier.
  prettierRecommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      globals: {
        ...globals.browser,
        ...globals.node
      },
      parserOptions: {
        // The test config: it covers src/__tests__ too, which are linted.
        project: 'tsconfig.test.json',
        tsconfigRootDir: import.meta.dirname,
        sourceType: 'module'
      }
    },
    rules: {
      '@typescript-eslint/naming-convention': [
        'error',
        {
          selector: 'interface',
          format: ['PascalCase'],
          custom: {
            regex: '^I[A-Z]',
            match: true
          }
        }
      ],
      '@typescript-eslint/no-unused-vars': ['warn', { args: 'none' }],
      // `@typescript-eslint/no-explicit-any` stays on, as recommended (the
      // eslintrc turned it off, though the code has no `any`).
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-use-before-define': 'off',
      // typescript-eslint 8 dropped its `quotes` rule: the core one, in the
      // setting that eslint-config-prettier documents as compatible.
      quotes: [
        'error',
        'single',
        { avoidEscape: true, allowTemplateLiterals: false }
      ],
      curly: ['error', 'all'],
      eqeqeq: 'error',
      'prefer-arrow-callback': 'error'
    }
  },
  {
    // Titles in the tests are grid data, not strings of the interface.
    files: ['src/__tests__/**'],
    rules: {
      'jupyter/no-untranslated-string': 'off'
    }
  },
  {
    files: ['eslint.config.mjs'],
    languageOptions: { globals: globals.node }
  }
]);
