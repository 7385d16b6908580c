// Unit tests of the plugin's logic, in Node: npm test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lookup } from '../src/plugin.js';

test('walks objects and arrays', () => {
  const body = { spec: { size: 'large' }, items: [{ id: 7 }] };
  assert.equal(lookup(body, 'spec.size'), 'large');
  assert.equal(lookup(body, 'items.0.id'), '7');
  assert.equal(lookup(body, 'spec.colour'), undefined);
});
