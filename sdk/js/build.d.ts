/** The WIT this SDK targets (apirun:plugin@0.2.0). */
export const witPath: string;
/** componentize-js features apirun cannot provide (wasi:http). */
export const disableFeatures: string[];
export function build(options: {
  /** `componentize` from @bytecodealliance/componentize-js. */
  componentize: (opts: object) => Promise<{ component: Uint8Array }>;
  /** The plugin module (default-exports the plugin object), relative to projectDir. */
  source: string;
  kind: 'step' | 'auth' | 'extractor';
  /** The component to write, relative to projectDir. */
  output: string;
  projectDir?: string;
}): Promise<{ output: string; bytes: number; seconds: number }>;
