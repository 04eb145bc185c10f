// Prints figures as a table and saves them as JSON; a figure is always shown next to its baseline.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Figure {
  name: string;
  unit: string;
  value: number;
  baselineName?: string;
  baseline?: number;
  /** Minimum acceptable value / baseline ratio (or maximum, with `lowerIsBetter`). */
  target?: number;
  lowerIsBetter?: boolean;
}

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

export function report(figures: Figure[], meta: Record<string, unknown>): string {
  const lines = figures.map((f) => {
    const ratio = f.baseline ? f.value / f.baseline : undefined;
    const ok =
      f.target === undefined || ratio === undefined ? '' : (f.lowerIsBetter ? ratio <= f.target : ratio >= f.target) ? 'met' : 'MISSED';
    return [
      f.name.padEnd(44),
      `${fmt(f.value)} ${f.unit}`.padStart(20),
      f.baseline === undefined ? ''.padStart(34) : `${f.baselineName}: ${fmt(f.baseline)}`.padStart(34),
      ratio === undefined ? '' : `ratio ${ratio.toFixed(2)}`.padStart(12),
      f.target === undefined ? '' : `target ${f.lowerIsBetter ? '<=' : '>='} ${f.target} ${ok}`,
    ].join('  ');
  });
  const path = join(dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify({ ...meta, figures: figures.map((f) => ({ ...f, ratio: f.baseline ? f.value / f.baseline : null })) }, null, 2)}\n`);
  return `${lines.join('\n')}\n\nsaved ${path}`;
}
