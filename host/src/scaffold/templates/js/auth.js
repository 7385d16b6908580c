// `__NAME__`: an auth provider. Its `config: {token}` becomes
// `Authorization: Bearer <token>`; `{{.auth.<provider name>}}` renders the token.
//
// Import only relative modules here (componentize-js bundles nothing else);
// the SDK's helpers arrive as the `apirun` argument.

/** @type {import('@apirun/plugin-sdk').AuthPlugin} */
export default {
  name: '__NAME__',
  version: '0.1.0',
  description: 'a bearer token from config.token',
  acquire({ providerConfig }, apirun) {
    const token = String(providerConfig.token ?? '').trim();
    if (!token) throw apirun.invalidConfig('`token` is missing or empty; set config.token');
    return apirun.bearer(token);
  },
};
