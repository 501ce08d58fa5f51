// Rewrites the generated sections of README.md from their sources, so the
// README never lists what the code does not do:
//
//   node scripts/docs.ts [README path]
//
// A section whose markers are missing is reported with the lines to add,
// and the script exits 1 without writing anything.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderMetricsTable } from '../src/main/metrics.ts';
import { renderStatsFields } from '../src/shared/stats.ts';
import { renderRoutingFields } from '../src/main/cluster/routing-stats.ts';
import { CLUSTER_OPTIONS } from '../src/shared/cluster-options.ts';
import { optionsTable } from './options-table.ts';
import { markers, replaceSection } from './readme-sections.ts';

/** Each generated section: its marker name, where its markers go, and its body. */
const SECTIONS = [
  { name: 'options', where: 'around the table under "## Options"', render: optionsTable },
  { name: 'stats', where: 'where "## Status and metrics" lists the stats() fields', render: () => renderStatsFields().trimEnd() },
  { name: 'metrics', where: 'around the Prometheus metric table', render: () => renderMetricsTable().trimEnd() },
  { name: 'cluster-options', where: "around the table of the cluster option's keys", render: clusterOptionsTable },
  { name: 'routing-stats', where: 'where "## Past one process" lists the stats().routing fields', render: () => renderRoutingFields().trimEnd() },
] as const;

function clusterOptionsTable(): string {
  const rows = ['| `cluster.` | default | meaning |', '|---|---|---|'];
  for (const option of CLUSTER_OPTIONS) rows.push(`| \`${option.name}\` | ${option.shownDefault} | ${option.meaning} |`);
  return rows.join('\n');
}

const path = process.argv[2] ?? fileURLToPath(new URL('../README.md', import.meta.url));
let text = readFileSync(path, 'utf8');
let missing = false;
for (const section of SECTIONS) {
  const replaced = replaceSection(text, section.name, section.render());
  if (replaced === undefined) {
    const { start, end } = markers(section.name);
    console.error(`${path}: no "${section.name}" section. Put these two lines ${section.where}, each on a line of its own:\n\n${start}\n${end}\n`);
    missing = true;
  } else {
    text = replaced;
  }
}
if (missing) process.exit(1);
writeFileSync(path, text);
console.log(`${path}: ${SECTIONS.map((s) => s.name).join(', ')} regenerated`);
