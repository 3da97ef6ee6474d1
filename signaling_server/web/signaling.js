// The signaling server's WebSocket (contract.json: signaling.path on the page's own origin):
// opening it, sending JSON messages, handing every parsed message to one handler.

import { contract } from './contract.js';
import { setStatus, state } from './state.js';

export function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

export function openSignaling(room, onMessage) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}${contract.signaling.path}`);
  state.ws = ws;
  ws.onopen = () => send({ type: 'join', room });
  ws.onmessage = (event) => {
    let message;
    try { message = JSON.parse(event.data); } catch (e) { return; }
    onMessage(message);
  };
  ws.onclose = (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (state.phase !== 'ended' && state.phase !== 'error') {
      setStatus('error', `Disconnected from the server (${event.code}${event.reason ? ' ' + event.reason : ''}).`);
    }
  };
}

export function closeSignaling() {
  send({ type: 'leave' });
  if (!state.ws) return;
  const ws = state.ws;
  state.ws = null;
  ws.close(1000, 'hang up');
}
