// ESLint for the web client (`make lint`): the recommended rules and a few more over its ES
// modules, which run in the browser as they are (no build step).
import js from '@eslint/js';
import globals from 'globals';

export default [
  // Only our own sources: the venv and node_modules carry other projects' bundles.
  { ignores: ['.venv/**', 'node_modules/**', '.demo/**', 'test-artifacts/**'] },
  {
    files: ['web_client/**/*.js'],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: 'module',
      globals: globals.browser,
    },
    rules: {
      ...js.configs.recommended.rules,
      eqeqeq: 'error',
      'no-shadow': 'error',
      'no-var': 'error',
      'prefer-const': 'error',
      // Messages from the server are parsed in signaling.js alone, where each is checked.
      'no-restricted-properties': ['error', {
        object: 'JSON',
        property: 'parse',
        message: 'parse signaling messages with signaling.js (parseServerMessage)',
      }],
    },
  },
  {
    // The modules that own a JSON format: signaling messages, app channel messages, and what the
    // tab keeps in sessionStorage.
    files: ['web_client/signaling.js', 'web_client/app-messages.js', 'web_client/tab-memory.js'],
    rules: { 'no-restricted-properties': 'off' },
  },
];
