// What the other peer hears: its stats messages (contract.json: stats), shown in the panel the
// contract describes (stats.panel: label, the message fields shown, unit, digits), its
// decisions on the timeline, and its W3C figures next to this browser's (inbound.js).

import { contract } from './contract.js';
import { showInbound } from './inbound.js';
import { state, ui } from './state.js';
import { decisionColumn, drawTimeline, pushColumn, showLegend } from './timeline.js';

const STATS = contract.stats;
const MAX_DECISIONS = 50;

function template(row) {
  return row.template || row.show.map(() => '{}').join(' / ') + (row.unit ? ` ${row.unit}` : '');
}

function buildRow(row) {
  const item = document.createElement('div');
  if (row.class) item.className = row.class;
  const term = document.createElement('dt');
  term.textContent = row.label;
  const value = document.createElement('dd');
  template(row).split('{}').forEach((text, i) => {
    if (i > 0) {
      const span = document.createElement('span');
      span.dataset.stat = row.show[i - 1];
      span.textContent = '-';
      value.appendChild(span);
    }
    if (text) value.appendChild(document.createTextNode(text));
  });
  item.append(term, value);
  return item;
}

export function buildPanel() {
  for (const row of STATS.panel) ui.numbers.appendChild(buildRow(row));
  showLegend(ui.timelineLegend, STATS.decision_labels);
  drawTimeline(ui.timeline, state.timeline, STATS.interval_s);
}

function lookup(object, path) {
  return path.split('.').reduce((value, key) => (value == null ? undefined : value[key]), object);
}

function format(row, path, value) {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value !== 'number' || !isFinite(value)) return String(value);
  const scaled = value * ((row.scale || {})[path] ?? 1);
  return row.digits === undefined ? String(Math.round(scaled)) : scaled.toFixed(row.digits);
}

function render(message) {
  for (const row of STATS.panel) {
    for (const path of row.show) {
      const element = ui.numbers.querySelector(`[data-stat="${path}"]`);
      element.textContent = format(row, path, lookup(message, path));
    }
  }
}

function renderDecisions() {
  ui.decisions.textContent = '';
  for (const d of state.decisions.slice(-8).reverse()) {
    const li = document.createElement('li');
    const t = typeof d.t === 'number' ? `${d.t.toFixed(1)} s: ` : '';
    li.textContent = t + (d.text || JSON.stringify(d));
    ui.decisions.appendChild(li);
  }
}

function accept(message, via) {
  if (!message || (message.type !== STATS.type && message.type !== 'stats')) return false;
  if (state.statsVia === 'datachannel' && via !== 'datachannel') return false;  // one source at a time
  if (state.statsFinal && !message.final) return false;
  state.statsVia = via;
  state.stats = message;
  state.statsFinal = Boolean(message.final);
  state.statsMessages += 1;
  if (message.final && via === 'datachannel' && state.channel && state.channel.readyState === 'open') {
    state.channel.send(JSON.stringify({ type: STATS.ack, final: true }));
  }
  return true;
}

export function onStats(message, via) {
  if (!accept(message, via)) return;
  render(message);
  showInbound('remote', message.w3c);
  ui.statsSource.textContent = message.final ? '(final, call over)' : `(live, via ${via === 'datachannel' ? 'data channel' : 'signaling'})`;
  if (typeof message.decisions === 'string' && message.decisions.length) {
    pushColumn(state.timeline, decisionColumn(message.decisions), STATS.interval_s);
  }
  if (Array.isArray(message.controller)) {
    state.decisions.push(...message.controller);
    if (state.decisions.length > MAX_DECISIONS) state.decisions.splice(0, state.decisions.length - MAX_DECISIONS);
    renderDecisions();
  }
  drawTimeline(ui.timeline, state.timeline, STATS.interval_s);
}

export function panelValues() {
  const values = {};
  ui.numbers.querySelectorAll('[data-stat]').forEach((element) => { values[element.dataset.stat] = element.textContent; });
  return values;
}
