// The page's URL parameters (all optional):
//   room=NAME      room to join (see contract.json's room rule); the share link carries it
//   autojoin=1     join without clicks (kiosks, automated tests)
//   raw=1          ask for echoCancellation/noiseSuppression/autoGainControl off (audio tests)
//   loopback=1     offer only 127.0.0.1 ICE candidates (both peers on one machine, tests)
//   stun=URL       an ICE server (none by default: host candidates only, fine on a LAN); the
//                  signaling server may hand out STUN and TURN servers itself on join (TURN with
//                  short-lived credentials: the page never holds a long-lived password)
//   ice=relay      use only TURN-relayed candidates (hides our addresses; tests the relay)
//   testhooks=1    load testhooks.js (window.dredClient for tests); never loaded otherwise
//   record=SECONDS with testhooks=1: record the received audio with Web Audio

const params = new URLSearchParams(location.search);

export const options = {
  room: params.get('room'),
  autojoin: params.get('autojoin') === '1',
  raw: params.get('raw') === '1',
  loopback: params.get('loopback') === '1',
  stun: params.get('stun'),
  relayOnly: params.get('ice') === 'relay',
  testhooks: params.get('testhooks') === '1',
  recordSeconds: Number(params.get('record') || 0),
};
