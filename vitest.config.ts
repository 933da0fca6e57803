import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Tests share one real Redis and spawn real server processes; two cores are plenty busy with
    // two forks at a time.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ["default", "./test/support/summaryReporter.ts"]
  }
})
