// What this browser hears: its own getStats() inbound-rtp audio figures, polled every second,
// shown under the same W3C names as the other peer's (inbound.js), with a timeline of what
// this browser played per second, drawn like the other peer's: concealed frames from
// concealedSamples, FEC-rebuilt frames from fecPacketsReceived - fecPacketsDiscarded, the
// rest normal.

import { W3C_NAMES, showInbound } from './inbound.js';
import { state, ui } from './state.js';
import { drawTimeline, emptyColumn, pushColumn, showLegend } from './timeline.js';

const POLL_SECONDS = 1;
// What getStats can tell apart: the browser's own categories, not our receiver's decisions
const PLAYED_LABELS = { normal: 'normal', lbrr: 'FEC', plc: 'concealed' };
let previous = null;

async function inboundAudio(pc) {
  // The audio inbound-rtp entry and its codec's RTP clock rate (48000 for Opus).
  const report = await pc.getStats();
  let inbound = null;
  report.forEach((s) => { if (s.type === 'inbound-rtp' && (s.kind || s.mediaType) === 'audio') inbound = s; });
  const codec = inbound && inbound.codecId ? report.get(inbound.codecId) : null;
  return { inbound, clockRate: (codec && codec.clockRate) || 48000 };
}

function framesOf(samples, clockRate) {
  return samples * 50 / clockRate;   // 20 ms frames
}

function playedColumn(now, before, clockRate) {
  const delta = (name) => (now[name] || 0) - (before[name] || 0);
  const column = emptyColumn();
  column.P = Math.round(framesOf(delta('concealedSamples'), clockRate));
  column.L = Math.max(0, delta('fecPacketsReceived') - delta('fecPacketsDiscarded'));
  column.N = Math.max(0, Math.round(framesOf(delta('totalSamplesReceived'), clockRate)) - column.P - column.L);
  return column;
}

export async function pollBrowserStats() {
  const pc = state.pc;
  if (!pc || pc.connectionState === 'closed') return state.browser;
  const { inbound, clockRate } = await inboundAudio(pc);
  if (!inbound) return state.browser;
  const figures = Object.fromEntries(W3C_NAMES.map((name) => [name, inbound[name]]));
  if (previous && previous.id === inbound.id) {
    pushColumn(state.browserTimeline, playedColumn(figures, previous.figures, clockRate), POLL_SECONDS);
  }
  previous = { id: inbound.id, figures };
  state.browser = figures;
  showInbound('local', figures);
  drawTimeline(ui.browserTimeline, state.browserTimeline, POLL_SECONDS);
  return figures;
}

export function startBrowserStats() {
  showLegend(ui.browserTimelineLegend, PLAYED_LABELS);
  drawTimeline(ui.browserTimeline, state.browserTimeline, POLL_SECONDS);
  setInterval(() => pollBrowserStats().catch((error) => console.warn('[dred-rtc] getStats failed', error)),
              POLL_SECONDS * 1000);
}
