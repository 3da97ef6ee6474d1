// The microphone: opening it (raw=1 turns the browser's voice processing off), listing the
// devices in the picker, switching the sending track to another device mid-call.

import { options } from './options.js';
import { fail, log, state, ui } from './state.js';

function audioConstraints() {
  const processed = !options.raw;
  const constraints = { channelCount: 1, echoCancellation: processed, noiseSuppression: processed, autoGainControl: processed };
  if (ui.mic.value) constraints.deviceId = { exact: ui.mic.value };
  return constraints;
}

export async function openMicrophone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error('no microphone access here: the page needs https (or localhost)');
  }
  return navigator.mediaDevices.getUserMedia({ audio: audioConstraints(), video: false });
}

function addOption(value, text) {
  const option = document.createElement('option');
  option.value = value;
  option.textContent = text;
  ui.mic.appendChild(option);
}

export async function listMicrophones() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  const selected = ui.mic.value;
  const current = state.localStream && state.localStream.getAudioTracks()[0];
  const currentId = current && current.getSettings ? current.getSettings().deviceId : '';
  ui.mic.textContent = '';
  addOption('', 'default microphone');
  devices.filter((d) => d.kind === 'audioinput' && d.deviceId && d.deviceId !== 'default')
    .forEach((d, i) => addOption(d.deviceId, d.label || `microphone ${i + 1}`));
  const want = selected || currentId;
  if (want && [...ui.mic.options].some((o) => o.value === want)) ui.mic.value = want;
}

export async function switchMicrophone() {
  if (!state.localStream) return;
  try {
    const stream = await openMicrophone();
    const track = stream.getAudioTracks()[0];
    track.enabled = !state.muted;
    const sender = state.pc && state.pc.getSenders().find((s) => s.track && s.track.kind === 'audio');
    if (sender) await sender.replaceTrack(track);
    state.localStream.getTracks().forEach((t) => t.stop());
    state.localStream = stream;
    log('microphone switched to', track.label);
  } catch (error) {
    fail('cannot switch microphone', error);
  }
}
