// A node:test reporter that adds up, per test file, the durations of its top-level tests and
// suites (hooks included; the file process's own start-up is not) and writes them at the end as
// one JSON object { "<file>": milliseconds }. run-tests.mjs prints the slowest of them.
export default async function* durations(source) {
  const byFile = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, file, details } = event.data;
    if (nesting !== 0 || file === undefined) continue;
    byFile.set(file, (byFile.get(file) ?? 0) + (details?.duration_ms ?? 0));
  }
  yield `${JSON.stringify(Object.fromEntries(byFile))}\n`;
}
