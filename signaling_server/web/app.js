// dred-rtc web client: plain JavaScript, no build step.
//
// Joins a room of the dred-rtc signaling server (WebSocket /ws of the page's own origin), calls
// the other peer (a browser or a Python `dred-rtc call`), and shows what the Python peer's
// receiver does with our audio: live stats sent over a WebRTC data channel.
//
// Query parameters
//   room=NAME      room to join (1-64 of A-Z a-z 0-9 _ -); the share link carries it
//   autojoin=1     join without clicks (kiosks, automated tests)
//   raw=1          ask for echoCancellation/noiseSuppression/autoGainControl off (audio tests)
//   loopback=1     offer only 127.0.0.1 ICE candidates (both peers on one machine, tests)
//   record=SECONDS record the received audio with Web Audio (tests read it back)
//   stun=URL       an ICE server (none by default: host candidates only, fine on a LAN); the
//                  signaling server may hand out STUN and TURN servers itself on join (TURN with
//                  short-lived credentials: the page never holds a long-lived password)
//   ice=relay      use only TURN-relayed candidates (hides our addresses; tests the relay)
(function () {
  'use strict';

  const params = new URLSearchParams(location.search);
  const ROOM_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
  // The stats channel is pre-negotiated on both sides (no in-band open handshake), so it works
  // whichever peer makes the offer. Must match dred_rtc/rtc/statschannel.py.
  const STATS_CHANNEL = { label: 'dred-stats', id: 42 };
  const GATHER_TIMEOUT_MS = 3000;
  const TIMELINE_COLUMNS = 60;       // stats messages shown (0.5 s each: the last 30 s)
  const DECISION_CODES = { N: 'normal', L: 'lbrr', D: 'dred', P: 'plc' };

  const $ = (id) => document.getElementById(id);
  const ui = {
    room: $('room'), newRoom: $('new-room'), mic: $('mic'), shareRow: $('share-row'),
    share: $('share'), copy: $('copy'), call: $('call'), mute: $('mute'), hangup: $('hangup'),
    status: $('status'), icePath: $('ice-path'), audio: $('remote-audio'), statsSource: $('stats-source'),
    timeline: $('timeline'), decisions: $('decisions'), insecure: $('insecure'),
  };

  const state = {
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
    errors: [],             // error events and failures, for the page and for tests
    iceServers: [],         // from the signaling server's "joined" (RTCIceServer dicts)
    icePath: null,          // the selected candidate pair: {local, remote, relayProtocol, text}
    recorder: null,
  };

  // ------------------------------------------------------------------ helpers
  function log(...args) { console.log('[dred-rtc]', ...args); }

  function setStatus(phase, text) {
    state.phase = phase;
    ui.status.textContent = text;
    ui.status.dataset.state = phase;
  }

  function fail(text, error) {
    state.errors.push(text + (error ? ': ' + (error.message || error) : ''));
    console.error('[dred-rtc]', text, error || '');
    setStatus('error', state.errors[state.errors.length - 1]);
  }

  function newRoomName() {
    // 128 random bits, base64url: unguessable, and valid for the server's room pattern.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function shareLink(room) {
    const url = new URL(location.pathname, location.origin);
    url.searchParams.set('room', room);
    return url.toString();
  }

  function showShare(room) {
    ui.share.value = shareLink(room);
    ui.shareRow.hidden = false;
    const url = new URL(location.href);
    url.searchParams.set('room', room);
    history.replaceState(null, '', url);
  }

  function send(message) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
  }

  function isLoopbackCandidate(candidate) {
    // "candidate:FOUNDATION COMPONENT PROTOCOL PRIORITY ADDRESS PORT typ TYPE ..."
    const parts = String(candidate || '').replace(/^a=/, '').split(/\s+/);
    return parts.length > 4 && parts[4] === '127.0.0.1';
  }

  function filterSdp(sdp) {
    if (params.get('loopback') !== '1') return sdp;
    return sdp.split('\r\n').filter((line) => !line.startsWith('a=candidate:') || isLoopbackCandidate(line))
      .join('\r\n');
  }

  // ------------------------------------------------------------------ microphone
  function audioConstraints() {
    const raw = params.get('raw') === '1';
    const constraints = { channelCount: 1, echoCancellation: !raw, noiseSuppression: !raw, autoGainControl: !raw };
    if (ui.mic.value) constraints.deviceId = { exact: ui.mic.value };
    return constraints;
  }

  async function openMicrophone() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error('no microphone access here: the page needs https (or localhost)');
    }
    return navigator.mediaDevices.getUserMedia({ audio: audioConstraints(), video: false });
  }

  async function listMicrophones() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const selected = ui.mic.value;
    const current = state.localStream && state.localStream.getAudioTracks()[0];
    const currentId = current && current.getSettings ? current.getSettings().deviceId : '';
    ui.mic.textContent = '';
    const fallback = document.createElement('option');
    fallback.value = '';
    fallback.textContent = 'default microphone';
    ui.mic.appendChild(fallback);
    devices.filter((d) => d.kind === 'audioinput' && d.deviceId && d.deviceId !== 'default').forEach((d, i) => {
      const option = document.createElement('option');
      option.value = d.deviceId;
      option.textContent = d.label || `microphone ${i + 1}`;
      ui.mic.appendChild(option);
    });
    const want = selected || currentId;
    if (want && [...ui.mic.options].some((o) => o.value === want)) ui.mic.value = want;
  }

  async function switchMicrophone() {
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

  // ------------------------------------------------------------------ signaling
  async function join(room) {
    if (!ROOM_PATTERN.test(room)) {
      fail('room names are 1-64 characters of A-Z a-z 0-9 _ -');
      return;
    }
    if (state.ws) return;
    state.room = room;
    ui.room.value = room;
    ui.room.disabled = true;
    ui.newRoom.disabled = true;
    ui.call.disabled = true;
    ui.hangup.disabled = false;
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
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    state.ws = ws;
    ws.onopen = () => send({ type: 'join', room });
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      onSignal(message).catch((error) => fail(`handling ${message.type} failed`, error));
    };
    ws.onclose = (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      if (state.phase !== 'ended' && state.phase !== 'error') {
        setStatus('error', `Disconnected from the server (${event.code}${event.reason ? ' ' + event.reason : ''}).`);
      }
    };
  }

  async function onSignal(message) {
    switch (message.type) {
      case 'joined':
        state.peerId = message.peer_id;
        state.iceServers = Array.isArray(message.ice_servers) ? message.ice_servers : [];
        if (message.peers && message.peers.length) {
          // The peer that joins second makes the offer.
          state.remoteId = message.peers[0];
          setStatus('connecting', 'Calling...');
          await makeOffer();
        } else {
          setStatus('waiting', 'Waiting for the other peer. Share the link to invite someone.');
        }
        break;
      case 'peer-joined':
        state.remoteId = message.peer_id;
        closePeerConnection();
        setStatus('connecting', 'The other peer joined; connecting...');
        break;
      case 'peer-left':
        closePeerConnection();
        state.remoteId = null;
        setStatus('waiting', 'The other peer left. Waiting for someone to join.');
        break;
      case 'offer':
        if (state.pc) closePeerConnection();
        createPeerConnection();
        await state.pc.setRemoteDescription({ type: 'offer', sdp: message.sdp });
        await state.pc.setLocalDescription(await state.pc.createAnswer());
        await sendDescription('answer');
        break;
      case 'answer':
        if (!state.pc) return;
        await state.pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
        break;
      case 'candidate':
        await addRemoteCandidate(message.candidate);
        break;
      case 'stats':
        onStats(message, 'signaling');
        break;
      case 'error':
        state.errors.push(`${message.code}: ${message.message}`);
        if (message.code === 'room-full') {
          setStatus('error', 'This room already has two people in it.');
          hangUp(false);
        } else {
          console.warn('[dred-rtc] server error', message.code, message.message);
        }
        break;
      default:
        break;
    }
  }

  async function addRemoteCandidate(candidate) {
    if (!state.pc || candidate === undefined) return;
    if (candidate === null || candidate === '') return;  // end of candidates
    let init = candidate;
    if (typeof candidate === 'string') init = { candidate, sdpMid: '0', sdpMLineIndex: 0 };
    if (params.get('loopback') === '1' && !isLoopbackCandidate(init.candidate)) return;
    try {
      await state.pc.addIceCandidate(init);
    } catch (error) {
      console.warn('[dred-rtc] ignored candidate', init, error);
    }
  }

  // ------------------------------------------------------------------ the call
  function createPeerConnection() {
    const iceServers = (params.get('stun') ? [{ urls: params.get('stun') }] : []).concat(state.iceServers);
    const iceTransportPolicy = params.get('ice') === 'relay' ? 'relay' : 'all';
    const pc = new RTCPeerConnection({ iceServers, iceTransportPolicy, bundlePolicy: 'max-bundle' });
    state.pc = pc;
    state.sdpSent = false;
    state.localStream.getAudioTracks().forEach((track) => pc.addTrack(track, state.localStream));
    const channel = pc.createDataChannel(STATS_CHANNEL.label, { negotiated: true, id: STATS_CHANNEL.id });
    channel.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      onStats(message, 'datachannel');
    };
    state.channel = channel;
    // The Python peer's own control channel (pre-negotiated, id 0): we only listen for its
    // hang-up, which arrives before the signaling server's peer-left.
    const control = pc.createDataChannel('control', { negotiated: true, id: 0 });
    control.onmessage = (event) => {
      try { if (JSON.parse(event.data).type === 'bye') setStatus('ended', 'The other peer hung up.'); } catch (e) { /* not JSON */ }
    };
    state.statsFinal = false;
    state.statsVia = null;
    pc.ontrack = (event) => {
      const stream = event.streams[0] || new MediaStream([event.track]);
      state.remoteStream = stream;
      ui.audio.srcObject = stream;  // also what makes Chrome feed the remote track to Web Audio
      ui.audio.play().catch(() => {});
      const seconds = Number(params.get('record') || 0);
      if (seconds > 0) startRecorder(stream, seconds);
    };
    pc.onicecandidate = (event) => {
      if (!state.sdpSent || !event.candidate) return;  // earlier ones travel inside the SDP
      if (params.get('loopback') === '1' && !isLoopbackCandidate(event.candidate.candidate)) return;
      send({ type: 'candidate', candidate: event.candidate.toJSON() });
    };
    pc.onicecandidateerror = (event) => {
      // 401: wrong or expired TURN credentials; 701: a STUN/TURN server did not answer
      const text = `ICE server ${event.url || '?'}: ${event.errorCode} ${event.errorText || ''}`.trim();
      state.errors.push(text);
      console.warn('[dred-rtc]', text);
      if (event.errorCode === 401 || event.errorCode === 403) {
        setStatus('error', `The TURN relay refused our credentials (${event.errorCode}): ask the server's operator ` +
                           '(its --turn-secret must be the relay\'s static-auth-secret).');
      }
    };
    pc.onconnectionstatechange = () => {
      if (state.pc !== pc) return;
      const s = pc.connectionState;
      if (s === 'connected') { setStatus('connected', 'In a call.'); showIcePath(pc); }
      else if (s === 'failed') setStatus('error', 'The connection failed (no network path between the peers).');
      else if (s === 'disconnected') setStatus('connecting', 'Connection interrupted; trying to recover...');
    };
    return pc;
  }

  async function selectedPair(pc) {
    // The pair in use, as the browser reports it: candidate types (host, srflx, prflx, relay)
    // and, for a relayed local candidate, how we reach the relay (udp, tcp, tls).
    const report = await pc.getStats();
    let pair = null;
    report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId); });
    if (!pair) report.forEach((s) => { if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
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

  async function makeOffer() {
    createPeerConnection();
    await state.pc.setLocalDescription(await state.pc.createOffer());
    await sendDescription('offer');
  }

  function closePeerConnection() {
    if (state.channel) { try { state.channel.close(); } catch (e) { /* closed */ } }
    if (state.pc) { try { state.pc.close(); } catch (e) { /* closed */ } }
    state.pc = null;
    state.channel = null;
    ui.audio.srcObject = null;
  }

  function hangUp(showEnded = true) {
    send({ type: 'leave' });
    closePeerConnection();
    if (state.ws) { const ws = state.ws; state.ws = null; ws.close(1000, 'hang up'); }
    if (state.localStream) state.localStream.getTracks().forEach((t) => t.stop());
    state.localStream = null;
    if (state.recorder) state.recorder.stop();
    if (showEnded) setStatus('ended', 'Call ended.');
    resetControls();
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

  function toggleMute() {
    state.muted = !state.muted;
    if (state.localStream) state.localStream.getAudioTracks().forEach((t) => { t.enabled = !state.muted; });
    ui.mute.textContent = state.muted ? 'Unmute' : 'Mute';
    ui.mute.setAttribute('aria-pressed', String(state.muted));
  }

  // ------------------------------------------------------------------ stats panel
  function lookup(object, path) {
    return path.split('.').reduce((value, key) => (value == null ? undefined : value[key]), object);
  }

  function format(key, value) {
    if (value === undefined || value === null || value === '') return '-';
    if (typeof value === 'boolean') return value ? 'on' : 'off';
    if (typeof value !== 'number' || !isFinite(value)) return String(value);
    if (key.startsWith('frames.')) return String(Math.round(value));
    if (key === 'loss_percent' || key.endsWith('kbps')) return value.toFixed(1);
    return String(Math.round(value));
  }

  function onStats(message, via) {
    if (!message || (message.type !== 'dred-stats' && message.type !== 'stats')) return;
    if (state.statsVia === 'datachannel' && via !== 'datachannel') return;  // one source at a time
    if (state.statsFinal && !message.final) return;
    state.statsVia = via;
    state.stats = message;
    state.statsFinal = Boolean(message.final);
    state.statsMessages += 1;
    if (message.final && via === 'datachannel' && state.channel && state.channel.readyState === 'open') {
      state.channel.send(JSON.stringify({ type: 'dred-stats-ack', final: true }));
    }
    const view = Object.assign({}, message, {
      send: Object.assign({}, message.send || {}, {
        bitrate_kbps: message.send && typeof message.send.bitrate === 'number' ? message.send.bitrate / 1000 : undefined,
      }),
    });
    document.querySelectorAll('[data-stat]').forEach((element) => {
      element.textContent = format(element.dataset.stat, lookup(view, element.dataset.stat));
    });
    ui.statsSource.textContent = message.final ? '(final, call over)' : `(live, via ${via === 'datachannel' ? 'data channel' : 'signaling'})`;
    if (typeof message.decisions === 'string' && message.decisions.length) {
      const column = { N: 0, L: 0, D: 0, P: 0 };
      for (const code of message.decisions) if (code in column) column[code] += 1;
      state.timeline.push(column);
      if (state.timeline.length > TIMELINE_COLUMNS) state.timeline.splice(0, state.timeline.length - TIMELINE_COLUMNS);
    }
    if (Array.isArray(message.controller)) {
      for (const d of message.controller) state.decisions.push(d);
      if (state.decisions.length > 50) state.decisions.splice(0, state.decisions.length - 50);
      renderDecisions();
    }
    drawTimeline();
  }

  function renderDecisions() {
    ui.decisions.textContent = '';
    for (const d of state.decisions.slice(-8).reverse()) {
      const li = document.createElement('li');
      const t = typeof d.t === 'number' ? `${d.t.toFixed(1)} s: ` : '';
      li.textContent = t + (d.text || JSON.stringify(d));
      ui.decisions.appendChild(li);
    }
  }

  function drawTimeline() {
    // One column per stats message (0.5 s), newest on the right: the share of frames played
    // normally (bottom), from LBRR, from DRED and concealed (top). Repairs get at least 2 px
    // so a single rebuilt frame stays visible.
    const canvas = ui.timeline;
    const ctx = canvas.getContext('2d');
    const colors = getComputedStyle(document.documentElement);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const width = canvas.width / TIMELINE_COLUMNS;
    const columns = state.timeline;
    columns.forEach((column, i) => {
      const total = column.N + column.L + column.D + column.P;
      if (!total) return;
      const x = canvas.width - (columns.length - i) * width;
      let top = canvas.height;
      const heights = {};
      for (const code of ['L', 'D', 'P']) heights[code] = column[code] ? Math.max(2, canvas.height * column[code] / total) : 0;
      heights.N = Math.max(0, canvas.height - heights.L - heights.D - heights.P);
      if (!column.N) heights.N = 0;
      for (const code of ['N', 'L', 'D', 'P']) {
        if (!heights[code]) continue;
        ctx.fillStyle = colors.getPropertyValue(`--${DECISION_CODES[code]}`).trim();
        ctx.fillRect(x, top - heights[code], Math.max(1, width - 1), heights[code]);
        top -= heights[code];
      }
    });
  }

  // ------------------------------------------------------------------ recording (tests)
  async function startRecorder(stream, seconds) {
    if (state.recorder) state.recorder.stop();
    const context = new AudioContext({ sampleRate: 48000 });
    const recorder = { context, chunks: [], samples: 0, limit: Math.round(seconds * 48000), startedAt: null, stop() {} };
    state.recorder = recorder;
    try {
      await context.audioWorklet.addModule('recorder-worklet.js');
      const source = context.createMediaStreamSource(stream);
      const node = new AudioWorkletNode(context, 'dred-recorder', { numberOfOutputs: 1 });
      node.port.onmessage = (event) => {
        if (recorder.samples >= recorder.limit) return;
        if (recorder.startedAt === null) recorder.startedAt = performance.now();
        recorder.chunks.push(event.data);
        recorder.samples += event.data.length;
      };
      const silent = context.createGain();
      silent.gain.value = 0;
      source.connect(node).connect(silent).connect(context.destination);
      await context.resume();
      recorder.stop = () => { node.port.onmessage = null; context.close(); };
    } catch (error) {
      fail('cannot record the received audio', error);
    }
  }

  function recording() {
    // Mono 48 kHz float samples as little-endian int16, base64: compact to hand to a test.
    const r = state.recorder;
    if (!r) return { sampleRate: 48000, samples: 0, data: '' };
    const total = Math.min(r.samples, r.limit);
    const pcm = new Int16Array(total);
    let at = 0;
    for (const chunk of r.chunks) {
      for (let i = 0; i < chunk.length && at < total; i++) {
        const v = Math.max(-1, Math.min(1, chunk[i]));
        pcm[at++] = v < 0 ? v * 32768 : v * 32767;
      }
    }
    const bytes = new Uint8Array(pcm.buffer);
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return { sampleRate: r.context.sampleRate, samples: total, data: btoa(binary) };
  }

  async function rtcStats() {
    // The browser's own view of the call (inbound/outbound audio), for tests and debugging.
    const out = {};
    if (!state.pc) return out;
    const report = await state.pc.getStats();
    report.forEach((s) => {
      if ((s.type === 'inbound-rtp' || s.type === 'outbound-rtp' || s.type === 'remote-inbound-rtp') &&
          (s.kind === 'audio' || s.mediaType === 'audio')) {
        out[s.type] = s;
      } else if (s.type === 'codec' && /opus/i.test(s.mimeType || '')) {
        out.codec = s;
      } else if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        out['candidate-pair'] = s;
      }
    });
    return out;
  }

  function panelValues() {
    const values = {};
    document.querySelectorAll('[data-stat]').forEach((element) => { values[element.dataset.stat] = element.textContent; });
    return values;
  }

  // ------------------------------------------------------------------ wiring
  ui.newRoom.addEventListener('click', () => { ui.room.value = newRoomName(); showShare(ui.room.value); });
  ui.room.addEventListener('change', () => { if (ROOM_PATTERN.test(ui.room.value)) showShare(ui.room.value); });
  ui.copy.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(ui.share.value); ui.copy.textContent = 'Copied'; }
    catch (e) { ui.share.select(); document.execCommand('copy'); }
    setTimeout(() => { ui.copy.textContent = 'Copy link'; }, 1500);
  });
  ui.call.addEventListener('click', () => {
    if (!ui.room.value) { ui.room.value = newRoomName(); }
    join(ui.room.value.trim());
  });
  ui.hangup.addEventListener('click', () => hangUp(true));
  ui.mute.addEventListener('click', toggleMute);
  ui.mic.addEventListener('change', switchMicrophone);
  window.addEventListener('pagehide', () => send({ type: 'leave' }));

  if (!window.isSecureContext) ui.insecure.hidden = false;
  const initialRoom = params.get('room');
  if (initialRoom) {
    ui.room.value = initialRoom;
    if (ROOM_PATTERN.test(initialRoom)) showShare(initialRoom);
  }
  listMicrophones().catch(() => {});
  drawTimeline();
  if (initialRoom && params.get('autojoin') === '1') join(initialRoom);

  // Test and debugging hooks.
  window.dredClient = { state, join, hangUp, toggleMute, recording, rtcStats, panelValues, newRoomName, selectedPair };
})();
