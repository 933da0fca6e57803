import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { call, createTask, focus, registerUser } from "./support/api.ts"
import { request } from "./support/http.ts"
import { type ServerProcess, startServer } from "./support/server.ts"
import { freePort, hasCommand, loopbackPrometheusConf, ROOT } from "./support/stack.ts"

/**
 * Issue 20, metrics: the Grafana dashboard against the real server. Grafana is not installable here, so
 * its two variables are substituted as Grafana would (`$__rate_interval` → 1m, `$instance` → the scraped
 * instance) and every panel query is evaluated by a real Prometheus scraping the server after a short
 * user journey. A panel "has data" when its query answers at least one series; a zero counts.
 */

const TOKEN = "dashboard-prometheus-metrics-token"
const AUTH = { authorization: `Bearer ${TOKEN}` }

/** prom-client's default gauges named `_total`: known, documented in the README, not ours to rename. */
const PROM_CLIENT_TOTAL_GAUGES = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total"
]

interface PanelQuery {
  readonly panel: string
  readonly expr: string
}

const panelQueries = (instance: string): ReadonlyArray<PanelQuery> => {
  const dashboard = JSON.parse(
    readFileSync(join(ROOT, "deploy/grafana/dashboards/focusforge.json"), "utf8")
  ) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>
  }
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      panel: panel.title,
      expr: target.expr.replace(/\$__rate_interval/g, "1m").replace(/\$instance/g, instance)
    }))
  )
}

/**
 * The metric names a query selects (`name{` selectors), a histogram's `_bucket` read as its family.
 * `up` is Prometheus's own series, not the app's.
 */
const selectedMetrics = (expr: string): ReadonlyArray<string> =>
  [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)]
    .map((match) => match[1] ?? "")
    .filter((name) => name !== "up")

/** Metric families with at least one sample in a Prometheus text exposition. */
const familiesWithSamples = (text: string): ReadonlySet<string> => {
  const names = new Set<string>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line)
    if (match?.[1] !== undefined) names.add(match[1])
  }
  return names
}

const scrape = async (base: string): Promise<string> => {
  const reply = await request(`${base}/metrics`, { headers: AUTH })
  expect(reply.status).toBe(200)
  return reply.text
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Series answered by an instant query (`result` of a vector, or one for a scalar). */
const instantSeries = async (prometheusUrl: string, expr: string): Promise<number> => {
  const reply = await request(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)
  if (reply.status !== 200) throw new Error(`query ${expr}: ${reply.status} ${reply.text}`)
  const body = reply.json() as { data: { resultType: string; result: ReadonlyArray<unknown> | unknown } }
  return Array.isArray(body.data.result) ? body.data.result.length : 1
}

describe("the dashboard against the real server", () => {
  let server: ServerProcess
  let prometheus: ChildProcess | undefined
  const dir = mkdtempSync(join(tmpdir(), "focusforge-dashboard-"))

  beforeAll(async () => {
    server = await startServer({ METRICS_TOKEN: TOKEN }, { entry: "test/support/testServer.ts" })
  })

  afterAll(async () => {
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus?.once("exit", resolve))
      prometheus.kill("SIGTERM")
      await exited
    }
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  it("a fresh server has a series for every metric a panel reads", async () => {
    // The first scrape records itself: the http_server_* series exist from the first request on.
    await scrape(server.url)
    const present = familiesWithSamples(await scrape(server.url))
    const missing = panelQueries(".*")
      .flatMap((query) => selectedMetrics(query.expr).map((metric) => ({ ...query, metric })))
      .filter((query) => !present.has(query.metric))
      // Its labels are routes × error tags, so no series before the first error: the query adds a 0.
      .filter(
        (query) => !(query.metric === "http_server_errors_total" && query.expr.includes("or on() vector(0)"))
      )
      .map((query) => `${query.panel}: ${query.metric}`)
    expect(missing).toEqual([])
  })

  it.skipIf(!hasCommand("promtool"))(
    "promtool check metrics passes on a scrape, but for prom-client's three `_total` gauges",
    async () => {
      const text = await scrape(server.url)
      const result = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" })
      const problems = `${result.stdout}${result.stderr}`
        .split("\n")
        .filter((line) => line.trim() !== "")
        .filter((line) => !PROM_CLIENT_TOTAL_GAUGES.some((name) => line.startsWith(`${name} `)))
      expect(problems).toEqual([])
    }
  )

  it.skipIf(!hasCommand("prometheus"))(
    "after a user journey, a live Prometheus answers every panel query with a series",
    async () => {
      const port = await freePort()
      const tokenFile = join(dir, "metrics-token")
      writeFileSync(tokenFile, TOKEN, { mode: 0o600 })
      const conf = join(dir, "prometheus.yml")
      // The committed config, both backends pointed at this one server (Prometheus merges equal targets).
      writeFileSync(
        conf,
        loopbackPrometheusConf(readFileSync(join(ROOT, "deploy/prometheus.yml"), "utf8"), {
          backendPorts: [server.port, server.port],
          selfPort: port,
          rulesFile: join(ROOT, "deploy/prometheus/alerts.yml"),
          tokenFile
        })
      )
      prometheus = spawn(
        "prometheus",
        [
          `--config.file=${conf}`,
          `--storage.tsdb.path=${join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`
        ],
        { stdio: "ignore" }
      )
      const url = `http://127.0.0.1:${port}`
      const instance = `127.0.0.1:${server.port}`
      const until = async (what: string, check: () => Promise<boolean>, ms: number) => {
        const deadline = Date.now() + ms
        for (;;) {
          if (await check().catch(() => false)) return
          if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
          await sleep(250)
        }
      }
      await until(
        "prometheus scrapes the server",
        async () => {
          return (await instantSeries(url, `up{job="focusforge",instance="${instance}"} == 1`)) === 1
        },
        30_000
      )

      // The journey: register, a task, one block started and completed, a mood entry, a purchase.
      const user = await registerUser(server.url, "Dashboard")
      const task = await createTask(server.url, user.token, { title: "Chart it", duration_minutes: 25 })
      const block = task.blocks[0]
      if (block === undefined) throw new Error("task without blocks")
      await focus(server.url, user.token, task.id, block.id)
      const mood = await call(server.url, "POST", "/api/v1/mood", {
        token: user.token,
        body: { score: 7, energy: 6, stress: 2 }
      })
      expect(mood.status).toBe(201)
      const bought = await call(server.url, "POST", "/api/v1/store/purchase/quick-break-5m", {
        token: user.token
      })
      expect(bought.status).toBe(201)

      // Rates need two scrapes in their window: wait until every panel answers, then report the empty ones.
      const queries = panelQueries(instance)
      const empty = async () => {
        const answers = await Promise.all(
          queries.map(async (query) => ({ query, series: await instantSeries(url, query.expr) }))
        )
        return answers
          .filter((answer) => answer.series === 0)
          .map((answer) => `${answer.query.panel}: ${answer.query.expr}`)
      }
      await until("every panel has data", async () => (await empty()).length === 0, 20_000).catch(
        () => undefined
      )
      expect(await empty()).toEqual([])
      // "Commands by outcome" charts the journey's commands, not only zeros.
      const ok = `sum(focusforge_actor_commands_total{job="focusforge",instance="${instance}",outcome="ok"}) > 0`
      expect(await instantSeries(url, ok)).toBe(1)
    },
    60_000
  )
})
