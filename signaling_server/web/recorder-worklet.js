// Hands every render quantum (128 samples) of the first input channel to the page.
class DredRecorder extends AudioWorkletProcessor {
  process(inputs) {
    const input = inputs[0];
    if (input && input.length > 0) this.port.postMessage(input[0].slice(0));
    return true;
  }
}
registerProcessor('dred-recorder', DredRecorder);
