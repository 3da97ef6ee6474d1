"""aiortc integration: encoded sender, receiver tap, playout track, SDP fmtp, Peer, signaling client."""
