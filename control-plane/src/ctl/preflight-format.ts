/**
 * ferryctl's reading of a pre-flight report (docs/architecture.md, "Pre-flight"): per resource
 * ferry-proxy would reject, its errors with field paths and who would reject it; per connected
 * proxy, pre-checked or not; then the warnings.
 */
import type { PreflightJson } from '@ferry/shared/api-wire';

export function formatPreflight(p: PreflightJson): string {
  const lines: string[] = [];
  const rejected = p.resources.filter((r) => r.errors.length > 0);
  const count = `${p.checked_resources} resource${p.checked_resources === 1 ? '' : 's'} checked`;
  const verdict = rejected.length === 0 ? 'none rejected' : `${rejected.length} rejected`;
  lines.push(
    `pre-flight of group "${p.group}" with ferry-proxy ${p.translator_version}'s translator: ${count}, ${verdict}${p.refuse ? ' (the write is refused unless forced)' : ''}`,
  );
  for (const r of p.resources) {
    const id = `${r.kind.toLowerCase()}/${r.name}`;
    if (r.errors.length > 0) {
      const by = r.rejected_by.length > 0 ? ` by ${r.rejected_by.join(', ')}` : '';
      lines.push(
        `  ${id}: would be rejected${by}${r.changed ? '' : ' (not changed by this write)'}`,
      );
      for (const e of r.errors) lines.push(`    ${e}`);
    }
    if (r.unchecked.length > 0)
      lines.push(`  ${id}: not checked (on the proxies' hosts): ${r.unchecked.join(', ')}`);
  }
  if (p.proxies.length === 0) lines.push(`  no proxy of group "${p.group}" is connected`);
  for (const n of p.proxies)
    lines.push(`  proxy ${n.node_id} (${n.user_agent || 'no user agent'}): ${n.note}`);
  const unlisted = p.pre_checked_proxies + p.other_proxies - p.proxies.length;
  if (unlisted > 0)
    lines.push(
      `  and ${unlisted} more proxies (${p.pre_checked_proxies} of all ${p.pre_checked_proxies + p.other_proxies} pre-checked)`,
    );
  for (const w of p.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n') + '\n';
}
