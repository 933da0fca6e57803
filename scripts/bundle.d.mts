/** Types of scripts/bundle.mjs for the TypeScript that imports it (bench/startup.ts). */
export declare const ENTRIES: Readonly<Record<"main" | "worker", string>>
/** SHA-256 over the contents of everything a bundle is made from. */
export declare const fingerprint: () => string
export declare const isFresh: (outdir?: string) => boolean
export declare const bundle: (outdir?: string) => Promise<ReadonlyArray<string>>
