// The README's options, stats and metrics tables are generated from their
// one source each (scripts/docs.ts); this keeps the committed README in
// step with them.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { optionsTable } from '../../scripts/options-table.ts';
import { readSection, replaceSection } from '../../scripts/readme-sections.ts';
import { renderMetricsTable } from '../../src/main/metrics.ts';
import { OPTIONS } from '../../src/shared/options.ts';
import { renderStatsFields } from '../../src/shared/stats.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('the README options table', () => {
  it('is exactly the table generated from the option schema (run `node scripts/docs.ts` after changing an option)', () => {
    const section = readSection(readme, 'options');
    expect(section, 'README.md needs <!-- options:start --> and <!-- options:end --> around the options table').toBeDefined();
    expect(section!.trim()).toBe(optionsTable());
  });

  it('has one row per option, in schema order, each naming the option', () => {
    const rows = optionsTable().split('\n').slice(2);
    expect(rows.map((row) => row.split(' | ')[0])).toEqual(OPTIONS.map((option) => `| \`${option.name}\``));
  });
});

describe('the README stats and metrics tables', () => {
  it('are exactly the tables generated from the counter descriptors (run `npm run docs` after changing a counter)', () => {
    expect(readSection(readme, 'stats')?.trim()).toBe(renderStatsFields().trim());
    expect(readSection(readme, 'metrics')?.trim()).toBe(renderMetricsTable().trim());
  });
});

describe('generated sections', () => {
  const text = 'before\n<!-- options:start -->\nold\nrows\n<!-- options:end -->\nafter';

  it('replacing a section changes only the lines between its markers', () => {
    expect(replaceSection(text, 'options', 'new')).toBe('before\n<!-- options:start -->\nnew\n<!-- options:end -->\nafter');
    expect(readSection(text, 'options')).toBe('old\nrows');
  });

  it('a missing or reversed marker is reported as no section, never guessed', () => {
    expect(readSection('before\n<!-- options:start -->\nrows', 'options')).toBeUndefined();
    expect(replaceSection('<!-- options:end -->\nrows\n<!-- options:start -->', 'options', 'new')).toBeUndefined();
    expect(readSection(text, 'metrics')).toBeUndefined();
  });
});
