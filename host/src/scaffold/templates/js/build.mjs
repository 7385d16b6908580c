// Build __NAME__.wasm with componentize-js (its API; no jco CLI needed):
//   npm install && npm run build
import { componentize } from '@bytecodealliance/componentize-js';
import { build } from '@apirun/plugin-sdk/build';

const { output, bytes, seconds } = await build({
  componentize,
  source: 'src/plugin.js',
  kind: '__KIND__',
  output: '__NAME__.wasm',
});
console.error(`built ${output} (${Math.round(bytes / 1024)} KiB) in ${seconds.toFixed(0)}s`);
