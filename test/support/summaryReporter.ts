import type { Reporter, TestModule } from "vitest/node"

/**
 * Prints one plain closing line, `vitest: N passed, N failed, N skipped`, that any CI log reader
 * understands, after vitest's own summary.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>) {
    let passed = 0
    let failed = 0
    let skipped = 0
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === "passed") passed++
        else if (state === "failed") failed++
        else skipped++
      }
    }
    // At exit, so it comes after vitest's own summary and is the log's last line.
    process.once("exit", () => {
      process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`)
    })
  }
}
