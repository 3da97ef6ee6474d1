// dred-rtc web client: ES modules, no build step (see options.js for the URL parameters).
//
// Joins a room of the dred-rtc signaling server, calls the other peer (a browser or a Python
// `dred-rtc call`), and shows what the other peer hears (its stats over a data channel) next
// to what this browser hears (its own getStats()).

import { startBrowserStats } from './browserstats.js';
import { contract, isRoomName } from './contract.js';
import { buildInboundTable } from './inbound.js';
import { listMicrophones, switchMicrophone } from './microphone.js';
import { options } from './options.js';
import { newRoomName, showShare } from './room.js';
import { send } from './signaling.js';
import { ui } from './state.js';
import { buildPanel } from './statspanel.js';
import { hangUp, join, toggleMute } from './session.js';

async function copyLink() {
  try { await navigator.clipboard.writeText(ui.share.value); ui.copy.textContent = 'Copied'; }
  catch (e) { ui.share.select(); document.execCommand('copy'); }
  setTimeout(() => { ui.copy.textContent = 'Copy link'; }, 1500);
}

function wireControls() {
  ui.newRoom.addEventListener('click', () => { ui.room.value = newRoomName(); showShare(ui.room.value); });
  ui.room.addEventListener('change', () => { if (isRoomName(ui.room.value)) showShare(ui.room.value); });
  ui.copy.addEventListener('click', copyLink);
  ui.call.addEventListener('click', () => {
    if (!ui.room.value) ui.room.value = newRoomName();
    join(ui.room.value.trim());
  });
  ui.hangup.addEventListener('click', () => hangUp(true));
  ui.mute.addEventListener('click', toggleMute);
  ui.mic.addEventListener('change', switchMicrophone);
  window.addEventListener('pagehide', () => send({ type: 'leave' }));
}

function describeRoomInput() {
  ui.room.pattern = contract.room.pattern;
  ui.room.placeholder = `room name (${contract.room.rule})`;
}

describeRoomInput();
buildPanel();
buildInboundTable();
wireControls();
if (!window.isSecureContext) ui.insecure.hidden = false;
if (options.room) {
  ui.room.value = options.room;
  if (isRoomName(options.room)) showShare(options.room);
}
listMicrophones().catch(() => {});
startBrowserStats();
if (options.testhooks) await import('./testhooks.js');
if (options.room && options.autojoin) join(options.room);
