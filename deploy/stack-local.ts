/**
 * `npm run stack:local`: the production topology on 127.0.0.1 with free ports (see README, "Production
 * deployment"). Runs until Ctrl-C / SIGTERM, then stops every process it started, by pid.
 *   STACK_NGINX_PORT=8080   fixed port for nginx (default: a free one)
 *   STACK_KEEP_DIR=1        keep the working directory (logs, generated configs) after stop
 */
import { startStack } from "../test/support/stack.ts"

const nginxPort = Number(process.env.STACK_NGINX_PORT ?? "0")
// Until the stack is up, a signal just exits: startStack's exit hook kills what it already started.
const early = () => process.exit(130)
process.once("SIGINT", early)
process.once("SIGTERM", early)
const stack = await startStack({
  ...(nginxPort > 0 ? { nginxPort } : {}),
  keepDir: process.env.STACK_KEEP_DIR === "1"
})

let stopping: Promise<void> | undefined
const shutdown = (code: number) => {
  stopping ??= stack.stop().then(
    () => process.exit(code),
    (error: unknown) => {
      console.error(error)
      process.exit(1)
    }
  )
}
process.off("SIGINT", early)
process.off("SIGTERM", early)
process.on("SIGINT", () => shutdown(0))
process.on("SIGTERM", () => shutdown(0))
process.on("uncaughtException", (error) => {
  console.error(error)
  shutdown(1)
})

console.log(
  [
    "FocusForge loopback stack is up:",
    `  nginx       ${stack.url}   (try ${stack.url}/health, ${stack.url}/docs)`,
    ...stack.instances.map((i) => `  ${i.id}       ${i.url}   (direct, x-instance-id: ${i.id})`),
    `  redis       ${stack.redisUrl.replace(/:[^:@/]+@/, ":***@")} (+ replica)`,
    `  prometheus  ${stack.prometheusUrl ?? "not installed"}`,
    `  work dir    ${stack.dir}`,
    `  pids        ${JSON.stringify(stack.pids())}`,
    "Ctrl-C stops everything."
  ].join("\n")
)
