// The call: one RTCPeerConnection with our microphone track, the pre-negotiated data channels
// of contract.json (stats: the other peer's receive stats; control: its hang-up), the offer or
// answer with the candidates gathered so far, trickled candidates, and the selected pair.

import { contract } from './contract.js';
import { options } from './options.js';
import { send } from './signaling.js';
import { events, setStatus, state, ui } from './state.js';
import { onStats } from './statspanel.js';

const GATHER_TIMEOUT_MS = 3000;

function isLoopbackCandidate(candidate) {
  // "candidate:FOUNDATION COMPONENT PROTOCOL PRIORITY ADDRESS PORT typ TYPE ..."
  const parts = String(candidate || '').replace(/^a=/, '').split(/\s+/);
  return parts.length > 4 && parts[4] === '127.0.0.1';
}

function filterSdp(sdp) {
  if (!options.loopback) return sdp;
  return sdp.split('\r\n').filter((line) => !line.startsWith('a=candidate:') || isLoopbackCandidate(line))
    .join('\r\n');
}

function parsed(event) {
  try { return JSON.parse(event.data); } catch (e) { return null; }
}

function openChannels(pc) {
  // Pre-negotiated on both sides (no in-band open handshake): works whichever peer offers.
  const stats = contract.channels.stats;
  const channel = pc.createDataChannel(stats.label, { negotiated: true, id: stats.id });
  channel.onmessage = (event) => onStats(parsed(event), 'datachannel');
  state.channel = channel;
  // The Python peer's own control channel: we only listen for its hang-up, which arrives
  // before the signaling server's peer-left.
  const control = contract.channels.control;
  const controlChannel = pc.createDataChannel(control.label, { negotiated: true, id: control.id });
  controlChannel.onmessage = (event) => {
    const message = parsed(event);
    if (message && message.type === control.bye) setStatus('ended', 'The other peer hung up.');
  };
}

function onTrack(event) {
  const stream = event.streams[0] || new MediaStream([event.track]);
  state.remoteStream = stream;
  ui.audio.srcObject = stream;  // also what makes Chrome feed the remote track to Web Audio
  ui.audio.play().catch(() => {});
  events.dispatchEvent(new CustomEvent('track', { detail: stream }));
}

function onCandidateError(event) {
  // 401: wrong or expired TURN credentials; 701: a STUN/TURN server did not answer
  const text = `ICE server ${event.url || '?'}: ${event.errorCode} ${event.errorText || ''}`.trim();
  state.errors.push(text);
  console.warn('[dred-rtc]', text);
  if (event.errorCode === 401 || event.errorCode === 403) {
    setStatus('error', `The TURN relay refused our credentials (${event.errorCode}): ask the server's operator ` +
                       '(its --turn-secret must be the relay\'s static-auth-secret).');
  }
}

function onConnectionState(pc) {
  if (state.pc !== pc) return;
  const s = pc.connectionState;
  if (s === 'connected') { setStatus('connected', 'In a call.'); showIcePath(pc); }
  else if (s === 'failed') setStatus('error', 'The connection failed (no network path between the peers).');
  else if (s === 'disconnected') setStatus('connecting', 'Connection interrupted; trying to recover...');
}

function createPeerConnection() {
  const iceServers = (options.stun ? [{ urls: options.stun }] : []).concat(state.iceServers);
  const iceTransportPolicy = options.relayOnly ? 'relay' : 'all';
  const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy, bundlePolicy: 'max-bundle' });
  state.pc = pc;
  state.sdpSent = false;
  state.statsFinal = false;
  state.statsVia = null;
  state.localStream.getAudioTracks().forEach((track) => pc.addTrack(track, state.localStream));
  openChannels(pc);
  pc.ontrack = onTrack;
  pc.onicecandidate = (event) => {
    if (!state.sdpSent || !event.candidate) return;  // earlier ones travel inside the SDP
    if (options.loopback && !isLoopbackCandidate(event.candidate.candidate)) return;
    send({ type: 'candidate', candidate: event.candidate.toJSON() });
  };
  pc.onicecandidateerror = onCandidateError;
  pc.onconnectionstatechange = () => onConnectionState(pc);
  return pc;
}

function findPair(report) {
  let pair = null;
  report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId); });
  if (!pair) report.forEach((s) => { if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
  return pair;
}

export async function selectedPair(pc) {
  // The pair in use, as the browser reports it: candidate types (host, srflx, prflx, relay)
  // and, for a relayed local candidate, how we reach the relay (udp, tcp, tls).
  const report = await pc.getStats();
  const pair = findPair(report);
  if (!pair) return null;
  const local = report.get(pair.localCandidateId) || {};
  const remote = report.get(pair.remoteCandidateId) || {};
  let transport = null;
  report.forEach((s) => { if (s.type === 'transport') transport = s; });
  const types = [local.candidateType, remote.candidateType];
  const path = types.includes('relay') ? 'relay' : (types.includes('srflx') || types.includes('prflx')) ? 'srflx' : 'host';
  return {
    local: local.candidateType, remote: remote.candidateType, path,
    relayProtocol: local.candidateType === 'relay' ? (local.relayProtocol || null) : null,
    dtlsState: transport ? transport.dtlsState : null, srtpCipher: transport ? transport.srtpCipher : null,
  };
}

async function showIcePath(pc) {
  try {
    const pair = await selectedPair(pc);
    if (!pair || state.pc !== pc) return;
    const how = { host: 'direct (same network)', srflx: 'through the NATs (STUN)', relay: 'through the TURN relay' }[pair.path];
    pair.text = `Path: ${how}; local ${pair.local}${pair.relayProtocol ? ' over ' + pair.relayProtocol.toUpperCase() : ''}, ` +
                `remote ${pair.remote}`;
    state.icePath = pair;
    ui.icePath.textContent = pair.text;
    ui.icePath.hidden = false;
  } catch (error) {
    console.warn('[dred-rtc] cannot read the selected pair', error);
  }
}

function gatheringComplete(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener('icegatheringstatechange', check); clearTimeout(timer); resolve(); };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

async function sendDescription(kind) {
  // Send the description with the candidates gathered so far (peers that do not trickle,
  // like aiortc, need them in the SDP); later candidates are trickled.
  const pc = state.pc;
  await gatheringComplete(pc);
  if (state.pc !== pc) return;
  send({ type: kind, sdp: filterSdp(pc.localDescription.sdp), sdp_type: kind });
  state.sdpSent = true;
}

export async function makeOffer() {
  createPeerConnection();
  await state.pc.setLocalDescription(await state.pc.createOffer());
  await sendDescription('offer');
}

export async function answerOffer(sdp) {
  if (state.pc) closePeerConnection();
  createPeerConnection();
  await state.pc.setRemoteDescription({ type: 'offer', sdp });
  await state.pc.setLocalDescription(await state.pc.createAnswer());
  await sendDescription('answer');
}

export async function acceptAnswer(sdp) {
  if (state.pc) await state.pc.setRemoteDescription({ type: 'answer', sdp });
}

export async function addRemoteCandidate(candidate) {
  if (!state.pc || candidate === undefined || candidate === null || candidate === '') return;  // null: end
  const init = typeof candidate === 'string' ? { candidate, sdpMid: '0', sdpMLineIndex: 0 } : candidate;
  if (options.loopback && !isLoopbackCandidate(init.candidate)) return;
  try {
    await state.pc.addIceCandidate(init);
  } catch (error) {
    console.warn('[dred-rtc] ignored candidate', init, error);
  }
}

export function closePeerConnection() {
  if (state.channel) { try { state.channel.close(); } catch (e) { /* closed */ } }
  if (state.pc) { try { state.pc.close(); } catch (e) { /* closed */ } }
  state.pc = null;
  state.channel = null;
  ui.audio.srcObject = null;
}
