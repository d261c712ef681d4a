// Room names. Resources become socket.io rooms; a scoped resource is a room of its own. Names
// are built with JSON.stringify, so no resource or scope can forge another's room
// (`a#b` unscoped and `a` scoped `b` are different rooms).

/** Sockets that never spoke the subscription protocol (plain socket.io-clients): public changes only. */
export const LEGACY_ROOM = 'lu:legacy';

const PREFIX = 'lu:r:';

/**
 * The room of a resource, or of one scope of it.
 * @example roomOf('orders', 'user:42') // 'lu:r:["orders","user:42"]'
 */
export function roomOf(resource: string, scope?: string): string {
  return PREFIX + JSON.stringify(scope === undefined ? [resource] : [resource, scope]);
}

/** Whether a room is a resource room (as opposed to a socket's own room or the legacy room). */
export function isResourceRoom(room: string): boolean {
  return room.startsWith(PREFIX);
}
