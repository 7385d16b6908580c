// `__NAME__`: an extractor. A path is dot-separated keys and array indexes
// into a JSON body (`spec.size`, `items.0.id`); strings come out as they are,
// other values as JSON text, and a missing path is undefined.
//
// Import only relative modules here (componentize-js bundles nothing else);
// the SDK's helpers arrive as the `apirun` argument.

/** The plugin's logic, free of host calls so that the unit test runs it in Node. */
export function lookup(body, path) {
  let current = body;
  for (const key of path.split('.').filter(Boolean)) {
    if (current !== null && typeof current === 'object' && Object.hasOwn(current, key)) {
      current = current[key];
    } else {
      return undefined;
    }
  }
  if (current === null || current === undefined) return undefined;
  return typeof current === 'string' ? current : JSON.stringify(current);
}

/** @type {import('@apirun/plugin-sdk').ExtractorPlugin} */
export default {
  name: '__NAME__',
  version: '0.1.0',
  description: 'dot-separated paths into a JSON body',
  extract(response, paths) {
    const body = response.json();
    return paths.map((path) => lookup(body, path));
  },
};
