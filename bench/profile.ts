import { readFileSync } from 'node:fs';
import { repoRoot } from './children.js';

/** Where a CPU profile (`node --cpu-prof`) says the time went, by function and by package/file. */
export interface ProfileSummary {
  file: string;
  /** Wall time summarised (the load only), ms. */
  totalMs: number;
  /** Share of samples not idle, in %. */
  busyPct: number;
  /** All percentages below are of busy (non-idle) samples. */
  topSelf: { fn: string; pct: number }[];
  topInclusive: { fn: string; pct: number }[];
  selfByArea: { area: string; pct: number }[];
  inclusiveByArea: { area: string; pct: number }[];
}

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length);
  if (u.startsWith(repoRoot)) u = u.slice(repoRoot.length);
  return u;
}

function area(frame: Node['callFrame']): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : 'V8/native builtins';
  if (url.startsWith('node:')) return 'node: internals';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = u.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return u.startsWith(repoRoot) ? u.slice(repoRoot.length) : u;
}

const label = (f: Node['callFrame']) => `${f.functionName || '(anonymous)'} ${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`.trim();

const IDLE = new Set(['(idle)']);

/** `windowMs`: count only the samples of the profile's last `windowMs` (the load, not the start-up). */
export function summarizeProfile(file: string, options: { top?: number; windowMs?: number } = {}): ProfileSummary {
  const top = options.top ?? 15;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const from = options.windowMs === undefined ? -Infinity : profile.endTime - options.windowMs * 1000;
  let at = profile.startTime;
  const inWindow = profile.samples.map((_, i) => (at += profile.timeDeltas[i] ?? 0) >= from);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<string, number>();
  const selfArea = new Map<string, number>();
  const incl = new Map<string, number>();
  const inclArea = new Map<string, number>();
  let busy = 0;
  let counted = 0;
  const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  for (const [i, id] of profile.samples.entries()) {
    if (!inWindow[i]) continue;
    counted++;
    const node = byId.get(id)!;
    if (IDLE.has(node.callFrame.functionName)) continue;
    busy++;
    add(self, label(node.callFrame));
    add(selfArea, area(node.callFrame));
    const seen = new Set<string>();
    const seenArea = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (f.functionName === '(root)') continue;
      const k = label(f);
      if (!seen.has(k)) {
        seen.add(k);
        add(incl, k);
      }
      const a = area(f);
      if (!seenArea.has(a)) {
        seenArea.add(a);
        add(inclArea, a);
      }
    }
  }
  const pct = (n: number) => Math.round((1000 * n) / Math.max(1, busy)) / 10;
  const rank = (m: Map<string, number>, n: number, key: 'fn' | 'area') =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => ({ [key]: k, pct: pct(v) }) as never);
  return {
    file,
    totalMs: Math.round(Math.min(profile.endTime - profile.startTime, options.windowMs === undefined ? Infinity : options.windowMs * 1000) / 1000),
    busyPct: Math.round((1000 * busy) / Math.max(1, counted)) / 10,
    topSelf: rank(self, top, 'fn'),
    topInclusive: rank(incl, top + 10, 'fn'),
    selfByArea: rank(selfArea, top, 'area'),
    inclusiveByArea: rank(inclArea, top, 'area'),
  };
}
