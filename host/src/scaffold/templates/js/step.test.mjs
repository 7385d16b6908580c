// Unit tests of the plugin's logic, in Node: npm test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, PluginError, Response } from '@apirun/plugin-sdk';
import plugin, { greeting } from '../src/plugin.js';

test('greets by name', () => {
  assert.equal(greeting({ name: 'Ada' }, context()), 'hello Ada');
});

test('refuses an empty name', () => {
  assert.throws(() => greeting({ name: ' ' }, context()), (e) => e instanceof PluginError && e.tag === 'invalid-config');
});

test('posts the greeting', () => {
  const sent = [];
  const apirun = context({ send: (request) => (sent.push(request), new Response(201, [], new Uint8Array())) });
  const result = plugin.run({ spec: { url: 'http://api/greetings', name: 'Ada' }, config: null, variables: {} }, apirun);
  assert.equal(sent[0].method, 'POST');
  assert.equal(new TextDecoder().decode(sent[0].body), '{"greeting":"hello Ada"}');
  assert.deepEqual(result.variables, { greeting: 'hello Ada' });
});
