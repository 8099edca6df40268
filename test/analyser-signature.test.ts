/**
 * The crash signature groups the same crash across runs and hosts: the same bug crashed twice
 * (ASLR on, so every module lands elsewhere) signs the same; another bug signs differently.
 */
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, expect, test } from 'vitest';

import type { CoreAnalysis } from '../workers/analyser/index.js';
import { crashAndAnalyse } from './support/core-stream.js';
import { crasher, type CrashedProcess } from './support/crashers.js';

const crashes: CrashedProcess[] = [];

async function analyse(argv: string[]): Promise<CoreAnalysis> {
  const [crash, analysis] = await crashAndAnalyse(argv);
  crashes.push(crash);
  return analysis;
}

let first: CoreAnalysis;
let second: CoreAnalysis;
let otherFunction: CoreAnalysis;
let otherSignal: CoreAnalysis;

beforeAll(async () => {
  const binary = crasher('null-deref');
  first = await analyse([binary, 'read']);
  second = await analyse([binary, 'read']);
  otherFunction = await analyse([binary, 'write']);
  otherSignal = await analyse([crasher('abort')]);
});
afterAll(() => crashes.forEach((c) => c.dispose()));

test('loads the two runs at different addresses (ASLR is on)', () => {
  expect(readFileSync('/proc/sys/kernel/randomize_va_space', 'utf8').trim()).not.toBe('0');
  expect(first.modules[0]?.start).not.toBe(second.modules[0]?.start);
});

test('signs two crashes of the same bug alike', () => {
  expect(first.signature).toMatch(/^[0-9a-f]{64}$/);
  expect(second.signature).toBe(first.signature);
  expect(second.backtrace).toEqual(first.backtrace);
});

test('signs a fault in another function of the same binary differently', () => {
  expect(otherFunction.signal).toBe(first.signal);
  expect(otherFunction.signature).not.toBe(first.signature);
});

test('signs a different signal from a different program differently', () => {
  expect(otherSignal.signature).toMatch(/^[0-9a-f]{64}$/);
  expect(otherSignal.signature).not.toBe(first.signature);
});
