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
  /** Absolute ceiling on `value` itself (latency in ms, memory in KB), checked besides any ratio target. */
  max?: number;
  lowerIsBetter?: boolean;
}

const fmt = (n: number) => (!Number.isFinite(n) ? String(n) : Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));

export function verdict(f: Figure): { ratio: number | undefined; ok: boolean | undefined; text: string } {
  const ratio = f.baseline ? f.value / f.baseline : undefined;
  const parts: string[] = [];
  let ok: boolean | undefined;
  if (f.target !== undefined && ratio !== undefined) {
    const met = f.lowerIsBetter ? ratio <= f.target : ratio >= f.target;
    ok = met;
    parts.push(`target ratio ${f.lowerIsBetter ? '<=' : '>='} ${f.target} ${met ? 'met' : 'MISSED'}`);
  }
  if (f.max !== undefined) {
    const met = f.value <= f.max;
    ok = (ok ?? true) && met;
    parts.push(`target <= ${fmt(f.max)} ${f.unit} ${met ? 'met' : 'MISSED'}`);
  }
  return { ratio, ok, text: parts.join('; ') };
}

export function report(figures: Figure[], meta: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const lines = figures.map((f) => {
    const { ratio, text } = verdict(f);
    return [
      f.name.padEnd(56),
      `${fmt(f.value)} ${f.unit}`.padStart(18),
      f.baseline === undefined ? ''.padStart(44) : `${f.baselineName}: ${fmt(f.baseline)}`.padStart(44),
      ratio === undefined ? ''.padStart(12) : `ratio ${ratio.toFixed(2)}`.padStart(12),
      text,
    ].join('  ');
  });
  const path = join(dirname(fileURLToPath(import.meta.url)), 'results', 'latest.json');
  mkdirSync(dirname(path), { recursive: true });
  const json = figures.map((f) => {
    const { ratio, ok } = verdict(f);
    return { ...f, ratio: ratio ?? null, met: ok ?? null };
  });
  writeFileSync(path, `${JSON.stringify({ ...meta, figures: json, ...extra }, null, 2)}\n`);
  return `${lines.join('\n')}\n\nsaved ${path}`;
}
