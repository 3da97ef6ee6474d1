// The decision timeline: one column per stats interval, newest on the right, over the last
// 30 s: the share of frames played normally (bottom), from LBRR, from DRED and concealed (top).
// Both panels draw it: the other peer's from its stats messages, this browser's from getStats.

import { contract } from './contract.js';

export const TIMELINE_SECONDS = 30;
const CODES = Object.entries(contract.stats.decision_codes);  // [['normal', 'N'], ...]

export function emptyColumn() {
  return Object.fromEntries(CODES.map(([, code]) => [code, 0]));
}

export function decisionColumn(letters) {
  const column = emptyColumn();
  for (const code of letters) if (code in column) column[code] += 1;
  return column;
}

export function pushColumn(columns, column, intervalSeconds) {
  columns.push(column);
  const capacity = Math.round(TIMELINE_SECONDS / intervalSeconds);
  if (columns.length > capacity) columns.splice(0, columns.length - capacity);
}

function heights(column, height) {
  // Repairs get at least 2 px so a single rebuilt frame stays visible; normal takes the rest.
  const total = CODES.reduce((sum, [, code]) => sum + column[code], 0);
  const result = {};
  let repairs = 0;
  for (const [name, code] of CODES.slice(1)) {
    result[name] = column[code] ? Math.max(2, height * column[code] / total) : 0;
    repairs += result[name];
  }
  const [normalName, normalCode] = CODES[0];
  result[normalName] = column[normalCode] ? Math.max(0, height - repairs) : 0;
  return total ? result : null;
}

export function showLegend(list, labels) {
  // One entry per decision the timeline draws, in its order, coloured by the decision's name.
  list.replaceChildren(...CODES.filter(([name]) => name in labels).map(([name]) => {
    const item = document.createElement('li');
    item.className = name;
    item.textContent = labels[name];
    return item;
  }));
}

export function drawTimeline(canvas, columns, intervalSeconds) {
  const ctx = canvas.getContext('2d');
  const colors = getComputedStyle(document.documentElement);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const width = canvas.width * intervalSeconds / TIMELINE_SECONDS;
  columns.forEach((column, i) => {
    const parts = heights(column, canvas.height);
    if (!parts) return;
    const x = canvas.width - (columns.length - i) * width;
    let top = canvas.height;
    for (const [name] of CODES) {
      if (!parts[name]) continue;
      ctx.fillStyle = colors.getPropertyValue(`--${name}`).trim();
      ctx.fillRect(x, top - parts[name], Math.max(1, width - 1), parts[name]);
      top -= parts[name];
    }
  });
}
