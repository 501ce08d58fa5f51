// The README's options table, rendered from the option schema: one row per
// option, in schema order, with its default as a reader sees it and its
// one-line meaning.

import { OPTIONS, type OptionDescriptor, shownDefault } from '../src/shared/options.ts';

export function optionsTable(options: readonly OptionDescriptor[] = OPTIONS): string {
  const cell = (markdown: string): string => markdown.replaceAll('|', '\\|');
  return [
    '| option | default | meaning |',
    '|---|---|---|',
    ...options.map((option) => `| \`${option.name}\` | ${cell(shownDefault(option))} | ${cell(option.meaning)} |`),
  ].join('\n');
}
