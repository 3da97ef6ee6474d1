// The web contract (contract.json, served next to this file): the one source of the room-name
// pattern, signaling message types, data-channel labels and ids, and the stats message schema
// with the panel that shows it. Python reads the same file (signaling_server/contract.py).

const response = await fetch(new URL('contract.json', import.meta.url));
if (!response.ok) throw new Error(`cannot load contract.json: ${response.status}`);

export const contract = await response.json();

const roomPattern = new RegExp(`^(?:${contract.room.pattern})$`);

export function isRoomName(name) { return roomPattern.test(name); }
