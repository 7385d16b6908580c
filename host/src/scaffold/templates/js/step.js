// `__NAME__`: a step type. With `with: {url, name}` it POSTs
// {"greeting": "hello <name>"} to `url` and sets the variable `greeting`.
// The step's response is what `result_code` and `env_from` apply to.
//
// Import only relative modules here (componentize-js bundles nothing else);
// the SDK's helpers arrive as the `apirun` argument.

/** The plugin's logic, free of host calls so that the unit test runs it in Node. */
export function greeting(spec, apirun) {
  const name = String(spec.name ?? 'world').trim();
  if (!name) throw apirun.invalidConfig('`with.name` is empty; give a name or leave it out');
  return `hello ${name}`;
}

/** @type {import('@apirun/plugin-sdk').StepPlugin} */
export default {
  name: '__NAME__',
  version: '0.1.0',
  description: 'POSTs a greeting and sets `greeting`',
  declares: [['greeting', 'the greeting sent']],
  run({ spec }, apirun) {
    if (typeof spec.url !== 'string' || !spec.url) throw apirun.invalidConfig('`with.url` is required');
    const text = greeting(spec, apirun);
    apirun.log.info(`POST ${spec.url}`);
    // host.send: apirun checks the URL against this plugin's allowed_hosts.
    const response = apirun.send('POST', spec.url, { json: { greeting: text } });
    return { response, variables: { greeting: text } };
  },
};
