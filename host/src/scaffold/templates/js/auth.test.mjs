// Unit tests of the plugin's logic, in Node: npm test
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, PluginError } from '@apirun/plugin-sdk';
import plugin from '../src/plugin.js';

test('bearer header', () => {
  const credential = plugin.acquire({ providerConfig: { token: 't0k' }, config: null }, context());
  assert.equal(credential.headerName, 'Authorization');
  assert.equal(credential.headerValue, 'Bearer t0k');
  assert.equal(credential.token, 't0k');
});

test('refuses a missing token', () => {
  assert.throws(
    () => plugin.acquire({ providerConfig: {}, config: null }, context()),
    (e) => e instanceof PluginError && e.tag === 'invalid-config',
  );
});
