// Records the received audio with Web Audio (an AudioWorklet, recorder-worklet.js) for tests:
// record=SECONDS together with testhooks=1. `recording()` hands it over as base64 int16.

import { fail } from './state.js';

let recorder = null;

export async function startRecorder(stream, seconds) {
  stopRecorder();
  const context = new AudioContext({ sampleRate: 48000 });
  const current = { context, chunks: [], samples: 0, limit: Math.round(seconds * context.sampleRate), stop() {} };
  recorder = current;
  try {
    await context.audioWorklet.addModule(new URL('recorder-worklet.js', import.meta.url));
    const source = context.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(context, 'dred-recorder', { numberOfOutputs: 1 });
    node.port.onmessage = (event) => {
      if (current.samples >= current.limit) return;
      current.chunks.push(event.data);
      current.samples += event.data.length;
    };
    const silent = context.createGain();
    silent.gain.value = 0;
    source.connect(node).connect(silent).connect(context.destination);
    await context.resume();
    current.stop = () => { node.port.onmessage = null; context.close(); };
  } catch (error) {
    fail('cannot record the received audio', error);
  }
}

export function stopRecorder() {
  if (recorder) recorder.stop();
}

function int16(recorded) {
  const total = Math.min(recorded.samples, recorded.limit);
  const pcm = new Int16Array(total);
  let at = 0;
  for (const chunk of recorded.chunks) {
    for (let i = 0; i < chunk.length && at < total; i++) {
      const v = Math.max(-1, Math.min(1, chunk[i]));
      pcm[at++] = v < 0 ? v * 32768 : v * 32767;
    }
  }
  return pcm;
}

export function recording() {
  // Mono float samples as little-endian int16, base64: compact to hand to a test.
  if (!recorder) return { sampleRate: 48000, samples: 0, data: '' };
  const pcm = int16(recorder);
  const bytes = new Uint8Array(pcm.buffer);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return { sampleRate: recorder.context.sampleRate, samples: pcm.length, data: btoa(binary) };
}
