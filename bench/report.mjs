// Output of `npm run bench`: the console table, the restart-storm SVG, and the README snippet.
import os from 'node:os';
import { execFileSync } from 'node:child_process';

const fmt = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? (Number.isInteger(v) ? String(v) : String(v)) : String(v));
const metText = (met) => (met === true ? 'yes' : met === false ? 'NO' : '—');
/** The met? column: a row that could not be measured with this build says why. */
const metCell = (r) => (r.skipped ? `skipped (${r.skipped})` : metText(r.met));

export function table(rows) {
  const head = ['metric', 'ours', 'baseline', 'ratio', 'unit', 'goal', 'met?'];
  const body = rows.map((r) => [r.name, fmt(r.ours), fmt(r.baseline), fmt(r.ratio), r.unit, r.goal, metCell(r)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 || i >= 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

export function markdownTable(rows) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [
    '| metric | ours | baseline | ratio | unit | goal | met? |',
    '| --- | ---: | ---: | ---: | --- | --- | --- |',
    ...rows.map((r) => `| ${esc(r.name)} | ${fmt(r.ours)} | ${fmt(r.baseline)} | ${fmt(r.ratio)} | ${esc(r.unit)} | ${esc(r.goal)} | ${metCell(r)} |`),
  ].join('\n');
}

export function machine() {
  let chromium = 'unknown';
  try {
    chromium = execFileSync('/usr/bin/chromium', ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {}
  let redis = 'unknown';
  try {
    redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim().split(' ').slice(0, 3).join(' ');
  } catch {}
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}, ${chromium}, ${redis}`;
}

/** The restart-storm histograms (refetches reaching the API per 100 ms), ours vs baseline, one panel per signal. */
export function stormSvg(storm) {
  const panels = ['SIGTERM', 'SIGKILL'].map((signal) => ({
    signal,
    plain: storm.runs.find((r) => r.signal === signal && r.mode === 'plain'),
    ours: storm.runs.find((r) => r.signal === signal && r.variant === 'slots'),
    spread: storm.runs.find((r) => r.signal === signal && r.variant === 'spread'),
  }));
  const W = 760;
  const PH = 230;
  const M = { l: 56, r: 16, t: 34, b: 40 };
  const maxBuckets = Math.max(...panels.flatMap((p) => [p.plain?.buckets.length ?? 0, p.ours?.buckets.length ?? 0, p.spread?.buckets.length ?? 0]));
  const maxY = Math.max(10, ...panels.flatMap((p) => [...(p.plain?.buckets ?? []), ...(p.ours?.buckets ?? []), ...(p.spread?.buckets ?? [])]));
  const yTop = Math.ceil(maxY / 20) * 20;
  const iw = W - M.l - M.r;
  const ih = PH - M.t - M.b;
  const x = (i) => M.l + (i / maxBuckets) * iw;
  const parts = [];
  panels.forEach((p, k) => {
    const oy = k * PH;
    const y = (v) => oy + M.t + ih - (v / yTop) * ih;
    const step = (buckets) => buckets.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)} L${x(i + 1).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<text x="${M.l}" y="${oy + 20}" font-weight="bold">Bridge restart by ${p.signal}: refetches reaching the API per 100 ms (1,000 clients)</text>`);
    for (let v = 0; v <= yTop; v += yTop / 4) {
      parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${M.l - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
    }
    for (let s = 0; s * 10 <= maxBuckets; s++) {
      parts.push(`<line x1="${x(s * 10)}" x2="${x(s * 10)}" y1="${oy + M.t + ih}" y2="${oy + M.t + ih + 4}" stroke="#333"/><text x="${x(s * 10)}" y="${oy + M.t + ih + 16}" text-anchor="middle">${s}s</text>`);
    }
    parts.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);
    if (p.plain) parts.push(`<path d="${step(p.plain.buckets)}" fill="none" stroke="#d62728" stroke-width="2"/>`);
    if (p.spread) parts.push(`<path d="${step(p.spread.buckets)}" fill="none" stroke="#ff7f0e" stroke-width="1.5" stroke-dasharray="4 2"/>`);
    if (p.ours) parts.push(`<path d="${step(p.ours.buckets)}" fill="none" stroke="#1f77b4" stroke-width="2"/>`);
    const lx = W - M.r - 400;
    parts.push(`<rect x="${lx}" y="${oy + M.t}" width="12" height="3" fill="#d62728"/><text x="${lx + 18}" y="${oy + M.t + 5}">plain socket.io-client: peak ${p.plain?.peak}, last fresh ${p.plain?.lastFreshMs} ms</text>`);
    parts.push(`<rect x="${lx}" y="${oy + M.t + 16}" width="12" height="3" fill="#1f77b4"/><text x="${lx + 18}" y="${oy + M.t + 21}">live-updates, bridge slots: peak ${p.ours?.peak}, last fresh ${p.ours?.lastFreshMs} ms</text>`);
    parts.push(`<rect x="${lx}" y="${oy + M.t + 32}" width="12" height="3" fill="#ff7f0e"/><text x="${lx + 18}" y="${oy + M.t + 37}">live-updates, plain-server spread 5 s: peak ${p.spread?.peak}, last fresh ${p.spread?.lastFreshMs} ms</text>`);
    parts.push(`<text x="${M.l + iw / 2}" y="${oy + PH - 6}" text-anchor="middle">time since the bridge was stopped</text>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${PH * panels.length}" viewBox="0 0 ${W} ${PH * panels.length}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
}

/** The storm runs as a markdown table. */
export function stormSummary(storm) {
  const lines = ['| restart | clients | peak / 100 ms | peak vs plain | last client fresh | requests |', '| --- | --- | ---: | ---: | ---: | ---: |'];
  for (const r of storm.runs) {
    const ref = storm.runs.find((p) => p.signal === r.signal && p.mode === 'plain');
    lines.push(`| ${r.signal} | ${r.label} | ${r.peak} | ${(r.peak / ref.peak).toFixed(2)} | ${r.lastFreshMs} ms | ${r.requests} |`);
  }
  return { markdown: lines.join('\n') };
}
