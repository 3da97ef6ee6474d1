"""dred-rtc: a WebRTC voice client whose calls stay intelligible on bad networks."""

__version__ = "0.1.0"
