// What every module of the page shares: the call's state, the page's elements, status and
// errors, and `events` (an EventTarget: "track" when remote audio arrives).

const $ = (id) => document.getElementById(id);

export const ui = {
  room: $('room'), newRoom: $('new-room'), mic: $('mic'), shareRow: $('share-row'),
  share: $('share'), copy: $('copy'), call: $('call'), mute: $('mute'), hangup: $('hangup'),
  status: $('status'), icePath: $('ice-path'), audio: $('remote-audio'), statsSource: $('stats-source'),
  numbers: $('numbers'), timeline: $('timeline'), decisions: $('decisions'), insecure: $('insecure'),
  inbound: $('inbound'), browserTimeline: $('browser-timeline'),
  timelineLegend: $('timeline-legend'), browserTimelineLegend: $('browser-timeline-legend'),
};

export const state = {
  phase: 'idle',          // idle | joining | waiting | connecting | connected | ended | error
  ws: null, pc: null, channel: null,
  room: null, peerId: null, remoteId: null,
  localStream: null, remoteStream: null,
  muted: false,
  sdpSent: false,
  stats: null,            // last stats message from the other peer
  statsFinal: false,
  statsMessages: 0,
  statsVia: null,         // 'datachannel' | 'signaling'
  timeline: [],           // per stats message: {N, L, D, P} frames played, oldest first
  decisions: [],          // redundancy decisions {t, text}
  browser: null,          // this browser's own inbound-rtp figures (browserstats.js)
  browserTimeline: [],    // per getStats poll: {N, L, D, P} frames this browser played
  errors: [],             // error events and failures, for the page and for tests
  iceServers: [],         // from the signaling server's "joined" (RTCIceServer dicts)
  icePath: null,          // the selected candidate pair: {local, remote, relayProtocol, text}
};

export const events = new EventTarget();

export function log(...args) { console.log('[dred-rtc]', ...args); }

export function setStatus(phase, text) {
  state.phase = phase;
  ui.status.textContent = text;
  ui.status.dataset.state = phase;
}

export function fail(text, error) {
  state.errors.push(text + (error ? ': ' + (error.message || error) : ''));
  console.error('[dred-rtc]', text, error || '');
  setStatus('error', state.errors[state.errors.length - 1]);
}
