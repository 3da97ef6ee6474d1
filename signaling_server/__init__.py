"""dred-rtc signaling server: WebSocket rooms of two peers (aiohttp), serves web/, TLS.

See `signaling_server.protocol` for the message contract and `dred-rtc serve --help`.
"""

from .app import RunningServer, ServerSettings, create_app, start_server

__all__ = ["RunningServer", "ServerSettings", "create_app", "start_server"]
