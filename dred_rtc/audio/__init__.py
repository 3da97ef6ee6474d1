"""Audio sources and sinks: WAV files, real speech corpus, microphone and speaker."""
