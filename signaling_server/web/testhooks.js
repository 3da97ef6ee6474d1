// Test and debugging hooks, loaded only with testhooks=1 (main.js): window.dredClient, and
// with record=SECONDS the received audio recorded for the test to read back.

import { pollBrowserStats } from './browserstats.js';
import { selectedPair } from './call.js';
import { inboundValues } from './inbound.js';
import { options } from './options.js';
import { recording, startRecorder, stopRecorder } from './recorder.js';
import { newRoomName } from './room.js';
import { hangUp, join, toggleMute } from './session.js';
import { events, state } from './state.js';
import { panelValues } from './statspanel.js';

const RTC_TYPES = ['inbound-rtp', 'outbound-rtp', 'remote-inbound-rtp'];

async function rtcStats() {
  // The browser's own view of the call (inbound/outbound audio, codec, selected pair).
  const out = {};
  if (!state.pc) return out;
  const report = await state.pc.getStats();
  report.forEach((s) => {
    if (RTC_TYPES.includes(s.type) && (s.kind === 'audio' || s.mediaType === 'audio')) out[s.type] = s;
    else if (s.type === 'codec' && /opus/i.test(s.mimeType || '')) out.codec = s;
    else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') out['candidate-pair'] = s;
  });
  return out;
}

if (options.recordSeconds > 0) {
  events.addEventListener('track', (event) => startRecorder(event.detail, options.recordSeconds));
  events.addEventListener('hangup', stopRecorder);
}

window.dredClient = {
  state, join, hangUp, toggleMute, recording, rtcStats, panelValues, newRoomName, selectedPair,
  pollBrowserStats, browserPanelValues: () => inboundValues('local'), remoteInboundValues: () => inboundValues('remote'),
};
