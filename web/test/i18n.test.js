// Both dictionaries have the same keys, and every key the code asks for exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dictionaries } from '../src/i18n.js';
import { WEB } from './harness.js';

test('zh-CN and en dictionaries have the same keys and no empty strings', () => {
  const en = Object.keys(dictionaries.en).sort();
  const zh = Object.keys(dictionaries['zh-CN']).sort();
  assert.deepEqual(zh, en);
  for (const [lang, d] of Object.entries(dictionaries)) {
    for (const [k, v] of Object.entries(d)) assert.ok(v.trim().length > 0, `${lang} ${k} is empty`);
  }
});

test('every literal t(…) key used in the code is in the dictionaries', () => {
  const files = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/\.(jsx?|tsx?)$/.test(e.name) && e.name !== 'i18n.js') files.push(join(dir, e.name));
    }
  };
  walk(join(WEB, 'src'));
  const missing = [];
  for (const f of files) {
    for (const m of readFileSync(f, 'utf8').matchAll(/\bt\('([a-zA-Z0-9_.]+)'/g)) {
      if (!(m[1] in dictionaries.en)) missing.push(`${f}: ${m[1]}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('zh-CN text uses full-width punctuation (，：；（）？！), not ASCII', () => {
  const bad = [];
  for (const [k, v] of Object.entries(dictionaries['zh-CN'])) {
    // Placeholders ({name}) and code-like parts are not prose.
    if (/[,:;()?!]/.test(v.replace(/\{\w+\}/g, ''))) bad.push(`${k}: ${v}`);
  }
  assert.deepEqual(bad, []);
});
