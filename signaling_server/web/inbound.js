// What each side hears, under the same W3C RTCInboundRtpStreamStats names: the rows are the
// fields of the stats message's "w3c" group in contract.json; the other peer's column comes
// from its stats messages, this browser's from its own getStats() (browserstats.js). Two
// derived rows are computed the same way for both sides.

import { contract } from './contract.js';
import { ui } from './state.js';

export const W3C_NAMES = Object.keys(contract.stats.message.w3c.fields);

const DERIVED = {
  'loss %': (s) => (s.packetsLost + s.packetsReceived > 0 ? 100 * s.packetsLost / (s.packetsLost + s.packetsReceived) : null),
  'jitterBufferDelay / jitterBufferEmittedCount (ms)':
    (s) => (s.jitterBufferEmittedCount > 0 ? 1000 * s.jitterBufferDelay / s.jitterBufferEmittedCount : null),
};

function format(value) {
  if (typeof value !== 'number' || !isFinite(value)) return '-';
  return Number.isInteger(value) ? String(value) : value.toFixed(3);
}

export function buildInboundTable() {
  for (const name of [...W3C_NAMES, ...Object.keys(DERIVED)]) {
    const row = ui.inbound.insertRow();
    const label = document.createElement('th');
    label.scope = 'row';
    label.textContent = name;
    row.appendChild(label);
    for (const side of ['remote', 'local']) {
      const cell = row.insertCell();
      cell.dataset.side = side;
      cell.dataset.name = name;
      cell.textContent = '-';
    }
  }
}

export function showInbound(side, w3c) {
  if (!w3c) return;
  const values = Object.fromEntries(W3C_NAMES.map((name) => [name, w3c[name]]));
  for (const [name, derive] of Object.entries(DERIVED)) values[name] = derive(values);
  ui.inbound.querySelectorAll(`td[data-side="${side}"]`).forEach((cell) => {
    cell.textContent = format(values[cell.dataset.name]);
  });
}

export function inboundValues(side) {
  const values = {};
  ui.inbound.querySelectorAll(`td[data-side="${side}"]`).forEach((cell) => { values[cell.dataset.name] = cell.textContent; });
  return values;
}
