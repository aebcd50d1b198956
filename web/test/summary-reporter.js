// A node:test reporter that ends the run with one plain line `browser: N passed, N failed`
// (.ci/run and its readers count it).
export default async function* summary(source) {
  let passed = 0;
  let failed = 0;
  for await (const event of source) {
    // Only top-level tests count (nesting 0); suites and subtests would double-count.
    if (event.type === 'test:pass' && event.data.nesting === 0 && !event.data.skip) passed++;
    if (event.type === 'test:fail' && event.data.nesting === 0) failed++;
  }
  yield `browser: ${passed} passed, ${failed} failed\n`;
}
