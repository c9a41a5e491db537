// Unit tests of the hanging protocols' rules (viewer/src/hanging.ts) and
// of lining a prior up by anatomy (viewer/src/align.ts):
// matching and series selection on plain objects, with the built-in
// protocols (crates/yunying-hanging/src/defaults.json, which the server serves until an administrator replaces them). The TypeScript module is
// transpiled as it is (it imports nothing) and imported.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const src = new URL('../src/', import.meta.url);
let h;
let align;
let defaults;

before(async () => {
  const code = ts.transpileModule(readFileSync(new URL('hanging.ts', src), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const file = join(mkdtempSync(join(tmpdir(), 'hanging-')), 'hanging.mjs');
  writeFileSync(file, code);
  h = await import(pathToFileURL(file).href);
  const alignCode = ts.transpileModule(readFileSync(new URL('align.ts', src), 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const alignFile = file.replace(/hanging\.mjs$/, 'align.mjs');
  writeFileSync(alignFile, alignCode);
  align = await import(pathToFileURL(alignFile).href);
  defaults = JSON.parse(readFileSync(new URL('../../crates/yunying-hanging/src/defaults.json', src), 'utf8')).protocols;
});

const series = (uid, modality, description, number, bodyPart = '') => ({ uid, modality, description, number, bodyPart });
const ctChest = (uid, extra = []) => ({
  uid, description: 'CT CHEST SYNTHETIC', modalities: ['CT'],
  series: [series(`${uid}.sr`, 'SR', 'Report', 0), series(`${uid}.2`, 'CT', 'Axial 1mm', 2, 'CHEST'), ...extra],
});

test('the built-in protocols are valid', () => {
  assert.deepEqual(h.validate({ protocols: defaults }), []);
  assert.ok(defaults.length >= 5);
});

test('a CT chest with a prior hangs mediastinal and lung windows of the study above those of the prior', () => {
  const current = ctChest('1.1', [series('1.1.3', 'CT', 'Axial 5mm', 3, 'CHEST')]);
  const prior = ctChest('1.0');
  const p = h.firstMatch(defaults, current, 1);
  assert.equal(p.id, 'ct-chest-prior');
  assert.equal(p.layout, '2x2');
  assert.deepEqual(h.priorsNeeded(p), [1]);
  assert.deepEqual(h.plan(p, [current, prior]), [
    { study: '1.1', series: '1.1.2', preset: 'soft' },
    { study: '1.1', series: '1.1.2', preset: 'lung' },
    { study: '1.0', series: '1.0.2', preset: 'soft' },
    { study: '1.0', series: '1.0.2', preset: 'lung' },
  ]);
  // Without priors none applies (the manual layout); the prior's viewports stay empty when it is missing.
  assert.equal(h.firstMatch(defaults, current, 0), undefined);
  assert.deepEqual(h.plan(p, [current, undefined]).slice(2), [null, null]);
  // Every protocol that applies, in order: the reader's choices.
  assert.deepEqual(h.allMatches(defaults, current, 1).map((x) => x.id), ['ct-chest-prior']);
});

test('matching reads modality, body part, Chinese descriptions and the number of priors', () => {
  const head = { uid: '2', description: '头颅CT平扫', modalities: ['CT'], series: [series('2.1', 'CT', '轴位', 1)] };
  assert.equal(h.firstMatch(defaults, head, 1).id, 'ct-head-prior');
  assert.equal(h.firstMatch(defaults, head, 0), undefined);
  const abdomen = { uid: '3', description: '', modalities: ['CT'], series: [series('3.1', 'CT', 'AX', 1, 'ABDOMEN')] };
  assert.equal(h.firstMatch(defaults, abdomen, 2).id, 'ct-abdomen-prior');
  const mrChest = { uid: '4', description: 'CHEST', modalities: ['MR'], series: [series('4.1', 'MR', 'T1', 1)] };
  assert.equal(h.firstMatch(defaults, mrChest, 0), undefined);
  const rules = [
    { id: 'many', name: 'x', match: { modalities: ['CT'], maxPriors: 1, minPriors: 1 }, layout: '1x1', viewports: [{ series: {} }] },
    { id: 'desc', name: 'x', match: { description: '^ct\\s+胸' }, layout: '1x1', viewports: [{ series: {} }] },
    { id: 'broken', name: 'x', match: { description: '(' }, layout: '1x1', viewports: [{ series: {} }] },
  ];
  assert.equal(h.firstMatch(rules, ctChest('5'), 1).id, 'many');
  assert.equal(h.firstMatch(rules, ctChest('5'), 2), undefined);
  assert.equal(h.firstMatch(rules, { ...ctChest('5'), description: 'ct  胸部平扫' }, 2).id, 'desc');
  // A pattern that is not one matches nothing (the server refuses to store it).
  assert.equal(h.firstMatch([rules[2]], ctChest('5'), 0), undefined);
});

test('series selectors pick by modality, description, number and nth, skipping non-images', () => {
  const mr = {
    uid: '6', description: 'MR BRAIN', modalities: ['MR'],
    series: [series('6.4', 'MR', 'AX DWI b1000', 4), series('6.1', 'MR', 'SAG T1', 1), series('6.3', 'MR', 'AX FLAIR', 3),
      series('6.2', 'MR', 'AX T2 TSE', 2), series('6.9', 'PR', 'T1 presentation', 9)],
  };
  const p = h.firstMatch(defaults, mr, 0);
  assert.equal(p.id, 'mr-brain');
  assert.deepEqual(h.plan(p, [mr]).map((x) => x?.series), ['6.1', '6.2', '6.3', '6.4']);
  assert.equal(h.selectSeries({ number: 3 }, mr).uid, '6.3');
  assert.equal(h.selectSeries({ nth: 1 }, mr).uid, '6.2');
  assert.equal(h.selectSeries({ description: 'presentation' }, mr), undefined);
  assert.equal(h.selectSeries({ modality: 'CT' }, mr), undefined);
  assert.equal(h.selectSeries({ description: 'flair', nth: 1 }, mr), undefined);
});

test('validation finds every problem with where it is', () => {
  const problems = h.validate({
    protocols: [
      { id: 'a', name: 'A', layout: '3x3', viewports: [{ series: {} }] },
      { id: 'a', name: '', match: { description: '(unclosed', colour: 1 }, layout: '1x2',
        viewports: [{ series: { prior: 12 } }, { series: { modality: 'ct' }, preset: 'liver' }, { series: {} }] },
      { id: 'b', name: 'B', match: { anatomy: 'x'.repeat(201) }, layout: '1x1', viewports: [{ series: {} }] },
    ],
  }).join('\n');
  for (const want of ['protocols[0].layout', 'protocols[1].id: a is used twice', 'protocols[1].name', 'protocols[1].match: unknown field colour',
    'protocols[1].match.description: not a valid pattern', 'protocols[1].viewports: 1 to 2', 'protocols[2].match.anatomy: a pattern is 1 to 200']) {
    assert.ok(problems.includes(want), `${want} missing from:\n${problems}`);
  }
  const fine = { protocols: [{ id: 'x', name: '胸部', layout: '1x2', viewports: [{ series: { prior: 1 }, preset: 'lung' }] }] };
  assert.deepEqual(h.validate(fine), []);
  fine.protocols[0].viewports[0].series.prior = 10;
  assert.match(h.validate(fine).join(), /prior is 0 to 9/);
  assert.deepEqual(h.validate([]), ['not a protocol list: {"protocols": [...]}']);
});

test('a prior is lined up by the profile of intensity along the table', () => {
  // The same anatomy (a profile by slice) 10 mm higher on the table in the prior, 1 mm slices.
  const anatomy = (i) => (i < 25 ? -700 + 8 * i : -500 + 300 * Math.sin(i / 6)) + 20 * Math.cos(i * 1.7);
  const current = Array.from({ length: 60 }, (_, i) => ({ z: -60 - i, v: anatomy(i) }));
  const prior = Array.from({ length: 60 }, (_, i) => ({ z: -50 - i, v: anatomy(i) }));
  assert.equal(align.bestShift(current, prior), 10);
  assert.equal(align.bestShift(prior, current), -10);
  // Spacing of 2.5 mm in the prior: the shift still comes out (to the finer spacing).
  const coarse = Array.from({ length: 24 }, (_, k) => ({ z: -50 - 2.5 * k, v: anatomy(2.5 * k) }));
  assert.ok(Math.abs(align.bestShift(current, coarse) - 10) <= 1, String(align.bestShift(current, coarse)));
  // Too short or flat to tell.
  assert.equal(align.bestShift(current.slice(0, 5), prior), undefined);
  assert.equal(align.bestShift(current.map((p) => ({ ...p, v: 1 })), prior.map((p) => ({ ...p, v: 1 }))), undefined);
});
