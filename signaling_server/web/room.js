// Room names and the share link. A room name is the call's secret.

import { ui } from './state.js';

export function newRoomName() {
  // 128 random bits, base64url: unguessable, and valid for the contract's room pattern.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function showShare(room) {
  const link = new URL(location.pathname, location.origin);
  link.searchParams.set('room', room);
  ui.share.value = link.toString();
  ui.shareRow.hidden = false;
  const here = new URL(location.href);
  here.searchParams.set('room', room);
  history.replaceState(null, '', here);
}
