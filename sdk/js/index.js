// Write apirun plugins in JavaScript (componentize-js). See docs/plugins/js.md.
//
// A plugin module default-exports a plain object: its metadata and one
// function (`run`, `acquire` or `extract`). Each function receives the input
// and `apirun`, the helpers (send, log, errors), so the plugin imports
// nothing at run time and its logic runs in Node for unit tests with a fake
// `send` (see `context`). `build.js` turns the module into a component.
//
// This file has no imports: the build copies it next to the generated entry
// module, which wires it to the host (`apirun:plugin/host@0.2.0`).

/** The version of the apirun:plugin contract (wit/plugin.wit) this SDK targets. */
export const CONTRACT_VERSION = '0.2.0';

/** A plugin error: apirun shows `message`, prefixed with the plugin's name. */
export class PluginError extends Error {
  constructor(tag, message) {
    super(message);
    this.name = 'PluginError';
    this.tag = tag;
    // componentize-js returns a thrown value's `payload` as the result's error.
    this.payload = { tag, val: String(message) };
  }
}

/** The input or configuration is wrong: the user must fix a file. Name the key. */
export const invalidConfig = (message) => new PluginError('invalid-config', message);
/** No answer came (DNS, connect, reset, timeout). */
export const transport = (message) => new PluginError('transport', message);
/** A policy refused the operation (a host outside allowed_hosts). */
export const denied = (message) => new PluginError('denied', message);
/** Anything else. */
export const failed = (message) => new PluginError('failed', message);

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** What the server answered; any status is a response, not an error. */
export class Response {
  constructor(status, headers = [], body = new Uint8Array()) {
    this.status = status;
    /** [[name, value], ...], names lower-case, order kept. */
    this.headers = headers;
    this.body = body;
  }
  get ok() {
    return this.status >= 200 && this.status < 300;
  }
  header(name) {
    const lower = name.toLowerCase();
    const found = this.headers.find(([k]) => k.toLowerCase() === lower);
    return found ? found[1] : undefined;
  }
  text() {
    return decoder.decode(this.body);
  }
  json() {
    try {
      return JSON.parse(this.text());
    } catch (e) {
      throw failed(`the ${this.status} answer is not JSON: ${e.message}`);
    }
  }
  toWit() {
    return {
      status: this.status,
      headers: this.headers.map(([name, value]) => ({ name, value })),
      body: this.body,
    };
  }
  static fromWit(r) {
    return new Response(r.status, r.headers.map((h) => [h.name, h.value]), r.body);
  }
}

/** `Authorization: Bearer <token>`; `{{.auth.<name>}}` renders the token. */
export function bearer(token, { expiresInSecs, state } = {}) {
  return { headerName: 'Authorization', headerValue: `Bearer ${token}`, token, expiresInSecs, state };
}

function parseJson(text, what) {
  const trimmed = (text ?? '').trim();
  if (trimmed === '' || trimmed === 'null') return {};
  try {
    return JSON.parse(trimmed);
  } catch (e) {
    throw invalidConfig(`${what} is not valid JSON: ${e.message}`);
  }
}

/**
 * The helpers a plugin function receives. `host` is the WIT host interface
 * (`{ send, log }`); in unit tests pass a fake: `context({ send: (req) => ... })`,
 * where `send` receives `{method, url, headers: [[k, v]], body}` and returns
 * a `Response` (or throws a PluginError).
 */
export function context(host = {}) {
  const rawSend = host.send;
  const log = (level) => (message) => {
    if (host.log) host.log(level, String(message));
  };
  return {
    invalidConfig,
    transport,
    denied,
    failed,
    bearer,
    Response,
    log: { trace: log('trace'), debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    /**
     * Send an HTTP request through apirun (host.send): checked against the
     * plugin's allowed_hosts, with the stage's TLS, timeout and retries.
     * `json` sends a JSON body with its Content-Type.
     */
    send(method, url, { headers = {}, body, json, timeoutMs, retry } = {}) {
      if (!rawSend) throw failed('send is not available here (no host)');
      const pairs = Array.isArray(headers) ? [...headers] : Object.entries(headers);
      let bytes = typeof body === 'string' ? encoder.encode(body) : body;
      if (json !== undefined) {
        bytes = encoder.encode(JSON.stringify(json));
        if (!pairs.some(([k]) => k.toLowerCase() === 'content-type')) pairs.push(['Content-Type', 'application/json']);
      }
      const request = { method: method.toUpperCase(), url, headers: pairs, body: bytes, timeoutMs, retry };
      if (host.wit) {
        try {
          const answer = rawSend({
            ...request,
            headers: pairs.map(([name, value]) => ({ name, value: String(value) })),
            followRedirects: undefined,
          });
          return Response.fromWit(answer);
        } catch (e) {
          // A host error arrives as an Error whose payload is the plugin-error.
          const p = e && e.payload;
          if (p && p.tag) throw new PluginError(p.tag, p.val);
          throw e;
        }
      }
      return rawSend(request);
    },
  };
}

/** Any thrown value as a PluginError (an unexpected one becomes `failed`). */
function asPluginError(e) {
  if (e instanceof PluginError) return e;
  if (e && e.payload && e.payload.tag) return new PluginError(e.payload.tag, e.payload.val);
  return failed(`${(e && e.name) || 'Error'}: ${(e && e.message) || String(e)}`);
}

function guard(call) {
  try {
    return call();
  } catch (e) {
    throw asPluginError(e);
  }
}

function metadataOf(plugin) {
  return {
    metadata() {
      return {
        name: String(plugin.name ?? ''),
        version: String(plugin.version ?? '0.1.0'),
        description: String(plugin.description ?? ''),
      };
    },
  };
}

/** The WIT exports for a plugin object (used by the generated entry module). */
export function exportsFor(kind, plugin, host) {
  const apirun = context({ ...host, wit: true });
  if (kind === 'step') {
    if (typeof plugin.run !== 'function') throw new Error('a step plugin needs a `run(input, apirun)` function');
    return {
      metadata: metadataOf(plugin),
      step: {
        run(input) {
          return guard(() => {
            if (input.spec.tag !== 'custom') {
              throw invalidConfig('this plugin is a custom step type; it was used as the `http` step');
            }
            const result = plugin.run(
              {
                spec: parseJson(input.spec.val, "the step's `with:` block"),
                config: JSON.parse(input.config || 'null'),
                variables: Object.fromEntries(input.variables.map((v) => [v.name, v.value])),
              },
              apirun,
            ) ?? {};
            const response = result.response;
            return {
              response: response ? (response instanceof Response ? response.toWit() : response) : undefined,
              variables: Object.entries(result.variables ?? {}).map(([name, value]) => ({ name, value: String(value) })),
            };
          });
        },
        declaredVariables(_spec, _config) {
          return (plugin.declares ?? []).map(([name, description]) => ({ name, description: description ?? '' }));
        },
      },
    };
  }
  if (kind === 'auth') {
    if (typeof plugin.acquire !== 'function') throw new Error('an auth plugin needs an `acquire(input, apirun)` function');
    return {
      metadata: metadataOf(plugin),
      auth: {
        acquire(input) {
          return guard(() => {
            const c = plugin.acquire(
              {
                providerConfig: parseJson(input.providerConfig, "the auth provider's `config:`"),
                config: JSON.parse(input.config || 'null'),
                state: input.state,
              },
              apirun,
            );
            return {
              headerName: String(c.headerName),
              headerValue: String(c.headerValue),
              token: String(c.token ?? ''),
              expiresInSecs: c.expiresInSecs == null ? undefined : BigInt(c.expiresInSecs),
              state: c.state == null ? undefined : String(c.state),
            };
          });
        },
      },
    };
  }
  if (kind === 'extractor') {
    if (typeof plugin.extract !== 'function') throw new Error('an extractor needs an `extract(input, paths, apirun)` function');
    return {
      metadata: metadataOf(plugin),
      extractor: {
        extract(input, paths) {
          return guard(() => {
            const response = new Response(input.status, input.headers.map((h) => [h.name, h.value]), input.body);
            response.contentType = input.contentType;
            response.config = JSON.parse(input.config || 'null');
            const values = [...plugin.extract(response, paths, apirun)];
            if (values.length !== paths.length) {
              throw failed(`returned ${values.length} values for ${paths.length} paths`);
            }
            return values.map((v) => (v == null ? undefined : String(v)));
          });
        },
      },
    };
  }
  throw new Error(`unknown plugin kind ${kind}`);
}
