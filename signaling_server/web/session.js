// A session in a room: join (microphone, then the signaling server), the signaling messages
// that drive the call, mute, hang up. The peer that joins second makes the offer.

import { acceptAnswer, addRemoteCandidate, answerOffer, closePeerConnection, makeOffer } from './call.js';
import { contract, isRoomName } from './contract.js';
import { listMicrophones, openMicrophone } from './microphone.js';
import { showShare } from './room.js';
import { closeSignaling, openSignaling } from './signaling.js';
import { events, fail, setStatus, state, ui } from './state.js';
import { onStats } from './statspanel.js';

function lockControls(room) {
  ui.room.value = room;
  ui.room.disabled = true;
  ui.newRoom.disabled = true;
  ui.call.disabled = true;
  ui.hangup.disabled = false;
}

function resetControls() {
  ui.room.disabled = false;
  ui.newRoom.disabled = false;
  ui.call.disabled = false;
  ui.hangup.disabled = true;
  ui.mute.disabled = true;
  state.muted = false;
  ui.mute.textContent = 'Mute';
  ui.mute.setAttribute('aria-pressed', 'false');
}

export async function join(room) {
  if (!isRoomName(room)) { fail(`room names are ${contract.room.rule}`); return; }
  if (state.ws) return;
  state.room = room;
  lockControls(room);
  showShare(room);
  setStatus('joining', 'Opening the microphone...');
  try {
    state.localStream = await openMicrophone();
    await listMicrophones();
  } catch (error) {
    fail('cannot open the microphone', error);
    resetControls();
    return;
  }
  ui.mute.disabled = false;
  setStatus('joining', 'Connecting to the server...');
  openSignaling(room, (message) => onSignal(message).catch((error) => fail(`handling ${message.type} failed`, error)));
}

async function onJoined(message) {
  state.peerId = message.peer_id;
  state.iceServers = Array.isArray(message.ice_servers) ? message.ice_servers : [];
  if (message.peers && message.peers.length) {
    state.remoteId = message.peers[0];
    setStatus('connecting', 'Calling...');
    await makeOffer();
  } else {
    setStatus('waiting', 'Waiting for the other peer. Share the link to invite someone.');
  }
}

function onPeerChange(message) {
  closePeerConnection();
  if (message.type === 'peer-joined') {
    state.remoteId = message.peer_id;
    setStatus('connecting', 'The other peer joined; connecting...');
  } else {
    state.remoteId = null;
    setStatus('waiting', 'The other peer left. Waiting for someone to join.');
  }
}

function onServerError(message) {
  state.errors.push(`${message.code}: ${message.message}`);
  if (message.code === 'room-full') {
    setStatus('error', 'This room already has two people in it.');
    hangUp(false);
  } else {
    console.warn('[dred-rtc] server error', message.code, message.message);
  }
}

const handlers = {
  joined: onJoined,
  'peer-joined': onPeerChange,
  'peer-left': onPeerChange,
  offer: (message) => answerOffer(message.sdp),
  answer: (message) => acceptAnswer(message.sdp),
  candidate: (message) => addRemoteCandidate(message.candidate),
  stats: (message) => onStats(message, 'signaling'),
  error: onServerError,
};

async function onSignal(message) {
  const handler = handlers[message.type];
  if (handler) await handler(message);
}

export function hangUp(showEnded = true) {
  closeSignaling();
  closePeerConnection();
  if (state.localStream) state.localStream.getTracks().forEach((t) => t.stop());
  state.localStream = null;
  if (showEnded) setStatus('ended', 'Call ended.');
  resetControls();
  events.dispatchEvent(new Event('hangup'));
}

export function toggleMute() {
  state.muted = !state.muted;
  if (state.localStream) state.localStream.getAudioTracks().forEach((t) => { t.enabled = !state.muted; });
  ui.mute.textContent = state.muted ? 'Unmute' : 'Mute';
  ui.mute.setAttribute('aria-pressed', String(state.muted));
}
