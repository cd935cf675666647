// A node:test reporter for run-tests.mjs: at the end it writes one JSON object with the run's
// counts (`counts`: the runner's closing "pass N", "fail N", ... diagnostics) and, per test file,
// the durations of its top-level tests and suites added up (`files`: { "<file>": milliseconds },
// hooks included; the file process's own start-up is not).
export default async function* summary(source) {
  const files = new Map();
  const counts = {};
  for await (const event of source) {
    if (event.type === 'test:diagnostic' && event.data.nesting === 0) {
      const match = /^(tests|pass|fail|cancelled|skipped|todo) (\d+)$/.exec(event.data.message);
      if (match) counts[match[1]] = Number(match[2]);
      continue;
    }
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, file, details } = event.data;
    if (nesting !== 0 || file === undefined) continue;
    files.set(file, (files.get(file) ?? 0) + (details?.duration_ms ?? 0));
  }
  yield `${JSON.stringify({ counts, files: Object.fromEntries(files) })}\n`;
}
