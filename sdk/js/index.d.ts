// Types for @apirun/plugin-sdk (apirun:plugin@0.2.0). See docs/plugins/js.md.

export const CONTRACT_VERSION: string;

export type ErrorTag = 'invalid-config' | 'transport' | 'denied' | 'failed';

/** Throw one of these; apirun shows the message prefixed with the plugin's name. */
export class PluginError extends Error {
  constructor(tag: ErrorTag, message: string);
  tag: ErrorTag;
  payload: { tag: ErrorTag; val: string };
}
export function invalidConfig(message: string): PluginError;
export function transport(message: string): PluginError;
export function denied(message: string): PluginError;
export function failed(message: string): PluginError;

export class Response {
  constructor(status: number, headers?: [string, string][], body?: Uint8Array);
  status: number;
  headers: [string, string][];
  body: Uint8Array;
  readonly ok: boolean;
  header(name: string): string | undefined;
  text(): string;
  json(): any;
}

export interface Credential {
  headerName: string;
  headerValue: string;
  /** What `{{.auth.<name>}}` renders. */
  token: string;
  /** apirun re-acquires shortly before this many seconds pass. */
  expiresInSecs?: number | bigint;
  /** Handed to this provider's next acquire in the same run (e.g. a rotated refresh token). */
  state?: string;
}
export function bearer(token: string, options?: { expiresInSecs?: number; state?: string }): Credential;

export interface SendOptions {
  headers?: Record<string, string> | [string, string][];
  body?: string | Uint8Array;
  /** Sent as JSON with Content-Type: application/json. */
  json?: unknown;
  timeoutMs?: number;
  /** true: retry even a POST; false: never. Default: idempotent methods only. */
  retry?: boolean;
}

/** The helpers every plugin function receives as its last argument. */
export interface Apirun {
  /** HTTP through apirun (allowed_hosts, TLS, timeouts, retries). Throws PluginError on no answer or refusal. */
  send(method: string, url: string, options?: SendOptions): Response;
  log: Record<'trace' | 'debug' | 'info' | 'warn' | 'error', (message: string) => void>;
  invalidConfig: typeof invalidConfig;
  transport: typeof transport;
  denied: typeof denied;
  failed: typeof failed;
  bearer: typeof bearer;
  Response: typeof Response;
}

export interface Metadata {
  /** Shown by `apirun plugins inspect`. */
  name: string;
  version?: string;
  description?: string;
}

export interface StepInput {
  /** The step's rendered `with:` block. */
  spec: Record<string, any>;
  /** The plugin's `config:` from its `plugins:` entry (null when absent). */
  config: any;
  /** The variables the stage grants the plugin (`plugins: - variables: [...]`). */
  variables: Record<string, string>;
}
export interface StepResult {
  /** What apirun checks against result_code and extracts env_from from. */
  response?: Response;
  /** Variables for later steps. */
  variables?: Record<string, string>;
}
export interface StepPlugin extends Metadata {
  /** [name, description] of the variables `run` sets, for `apirun validate`. */
  declares?: [string, string][];
  run(input: StepInput, apirun: Apirun): StepResult | undefined;
}

export interface AcquireInput {
  /** The auth entry's rendered `config:`. */
  providerConfig: Record<string, any>;
  config: any;
  state?: string;
}
export interface AuthPlugin extends Metadata {
  acquire(input: AcquireInput, apirun: Apirun): Credential;
}

export interface ExtractInput extends Response {
  contentType?: string;
  config: any;
}
export interface ExtractorPlugin extends Metadata {
  /** One value per path; undefined/null = not present. */
  extract(response: ExtractInput, paths: string[], apirun: Apirun): (string | null | undefined)[];
}

/** Helpers for unit tests: pass a fake `send` that returns a Response. */
export function context(host?: {
  send?: (request: { method: string; url: string; headers: [string, string][]; body?: Uint8Array }) => Response;
  log?: (level: string, message: string) => void;
}): Apirun;
