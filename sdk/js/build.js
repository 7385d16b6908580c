// Build an apirun plugin module into a WebAssembly component with
// componentize-js, through its API (no jco CLI). See docs/plugins/js.md.
//
// The plugin's module default-exports a plain object (see index.js). The
// build writes a small entry module into `<project>/.apirun-build/` that
// imports the host interface, this SDK's runtime (copied there as sdk.js:
// componentize-js resolves relative imports only) and the plugin, and
// exports the world's interfaces; componentize-js compiles that.

import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The WIT this SDK targets (apirun:plugin@0.2.0). */
export const witPath = join(HERE, 'wit');

const WORLDS = { step: 'step-plugin', auth: 'auth-plugin', extractor: 'extractor-plugin' };

/**
 * componentize-js features apirun cannot provide. `http` (fetch) and
 * `fetch-event` import wasi:http, which apirun refuses: a plugin sends HTTP
 * through apirun (`apirun.send`), which applies allowed_hosts and TLS.
 */
export const disableFeatures = ['http', 'fetch-event'];

export async function build({ componentize, source, kind, output, projectDir = process.cwd() }) {
  if (typeof componentize !== 'function') {
    throw new Error('build: pass `componentize` from @bytecodealliance/componentize-js');
  }
  const world = WORLDS[kind];
  if (!world) throw new Error(`build: kind must be step, auth or extractor, not ${kind}`);
  projectDir = resolve(projectDir);
  const sourcePath = resolve(projectDir, source);
  await stat(sourcePath);
  // componentize-js maps the current directory into the build sandbox:
  // the entry and the plugin's modules must be inside it.
  if (resolve(process.cwd()) !== projectDir) process.chdir(projectDir);
  const stage = join(projectDir, '.apirun-build');
  await rm(stage, { recursive: true, force: true });
  await mkdir(stage, { recursive: true });
  await copyFile(join(HERE, 'index.js'), join(stage, 'sdk.js'));
  let from = relative(stage, sourcePath).split(sep).join('/');
  if (!from.startsWith('.')) from = `./${from}`;
  const entry = [
    "import { send, log } from 'apirun:plugin/host@0.2.0';",
    "import { exportsFor } from './sdk.js';",
    `import plugin from ${JSON.stringify(from)};`,
    `const exported = exportsFor(${JSON.stringify(kind)}, plugin, { send, log });`,
    'export const metadata = exported.metadata;',
    `export const ${kind} = exported.${kind};`,
    '',
  ].join('\n');
  const entryPath = join(stage, 'entry.js');
  await writeFile(entryPath, entry);
  const started = Date.now();
  const { component } = await componentize({
    sourcePath: entryPath,
    witPath,
    worldName: world,
    disableFeatures,
  });
  const out = resolve(projectDir, output);
  const tmp = `${out}.tmp`;
  await writeFile(tmp, component);
  await rename(tmp, out);
  await rm(stage, { recursive: true, force: true });
  return { output: out, bytes: component.length, seconds: (Date.now() - started) / 1000 };
}
