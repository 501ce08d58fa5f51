// Generated sections of a markdown file: the lines between
// `<!-- NAME:start -->` and `<!-- NAME:end -->` belong to a generator and are
// replaced whole; everything else in the file is left as written.

export function markers(name: string): { start: string; end: string } {
  return { start: `<!-- ${name}:start -->`, end: `<!-- ${name}:end -->` };
}

/** The lines between the section's markers, or undefined when a marker is missing or out of order. */
export function readSection(text: string, name: string): string | undefined {
  const span = locate(text, name);
  return span === undefined ? undefined : span.lines.slice(span.start + 1, span.end).join('\n');
}

/** The text with the section's body replaced, or undefined when a marker is missing or out of order. */
export function replaceSection(text: string, name: string, body: string): string | undefined {
  const span = locate(text, name);
  if (span === undefined) return undefined;
  return [...span.lines.slice(0, span.start + 1), body, ...span.lines.slice(span.end)].join('\n');
}

function locate(text: string, name: string): { lines: string[]; start: number; end: number } | undefined {
  const { start, end } = markers(name);
  const lines = text.split('\n');
  const startLine = lines.findIndex((line) => line.trim() === start);
  const endLine = lines.findIndex((line) => line.trim() === end);
  if (startLine < 0 || endLine < startLine) return undefined;
  return { lines, start: startLine, end: endLine };
}
