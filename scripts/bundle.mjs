/**
 * Builds the server and the worker into single-file ES modules, `dist/main.mjs` and `dist/worker.mjs`
 * (esbuild; `tsc --strict` stays the type check), and decides whether a build is stale.
 *
 *   node scripts/bundle.mjs                 build dist/ now
 *   node scripts/bundle.mjs --outdir DIR    build into DIR instead (the image test builds into a scratch dir)
 *   node scripts/bundle.mjs --check         exit 0 when dist/ is up to date, 1 when it is stale
 *
 * One file per entry point starts in a fraction of the time Node needs to resolve and load the same
 * code as hundreds of modules from node_modules, and holds less memory.
 */
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const ROOT = fileURLToPath(new URL("..", import.meta.url))
const DIST = join(ROOT, "dist")
export const ENTRIES = { main: "src/main.ts", worker: "src/worker.ts" }

/**
 * Loaded at run time rather than bundled: argon2's native addon, and the MongoDB driver is imported only when MONGODB_URI is set
 * (so the embedded default never loads it), and its optional native helpers cannot be bundled.
 */
const EXTERNAL = [
  // A native addon (a .node binary per platform, chosen at run time); loaded on the first password hash.
  "@node-rs/argon2",
  "mongodb",
  "kerberos",
  "snappy",
  "@mongodb-js/zstd",
  "mongodb-client-encryption",
  "socks",
  "aws4",
  "gcp-metadata",
  "@aws-sdk/credential-providers"
]

const listFiles = (dir) =>
  readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? listFiles(join(dir, entry.name)) : [join(dir, entry.name)]
  )

/**
 * What a bundle is made from: every source file, the configs and the lockfile (a dependency change
 * changes the bundle), and this script. Contents, not mtimes: a checkout or a copy that keeps the
 * contents never forces a rebuild, and an edit always does.
 */
export const fingerprint = () => {
  const hash = createHash("sha256")
  const inputs = [
    ...listFiles("src").sort(),
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "scripts/bundle.mjs"
  ]
  for (const file of inputs) {
    hash.update(file)
    hash.update("\0")
    hash.update(readFileSync(join(ROOT, file)))
    hash.update("\0")
  }
  return hash.digest("hex")
}

const stampOf = (outdir) => join(outdir, ".bundle-fingerprint")

export const isFresh = (outdir = DIST) =>
  existsSync(stampOf(outdir)) &&
  Object.keys(ENTRIES).every((name) => existsSync(join(outdir, `${name}.mjs`))) &&
  readFileSync(stampOf(outdir), "utf8") === fingerprint()

export const bundle = async (outdir = DIST) => {
  const { build } = await import("esbuild")
  const print = fingerprint()
  await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, file]) => [name, join(ROOT, file)])),
    outdir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node26",
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    sourcemap: "linked",
    external: EXTERNAL,
    legalComments: "none",
    minifyWhitespace: true,
    charset: "ascii",
    logLevel: "warning",
    // CommonJS dependencies (prom-client, ioredis, OpenTelemetry) call require() for Node built-ins.
    banner: {
      js: 'import { createRequire as __ffCreateRequire } from "node:module"; const require = __ffCreateRequire(import.meta.url);'
    }
  })
  writeFileSync(stampOf(outdir), print)
  return Object.keys(ENTRIES).map((name) => relative(ROOT, join(outdir, `${name}.mjs`)))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes("--check")) {
    process.exit(isFresh() ? 0 : 1)
  } else {
    const at = process.argv.indexOf("--outdir")
    const started = performance.now()
    const files = await bundle(at > 0 && process.argv[at + 1] ? resolve(process.argv[at + 1]) : DIST)
    console.log(`bundled ${files.join(", ")} in ${Math.round(performance.now() - started)} ms`)
  }
}
