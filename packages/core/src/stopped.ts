/**
 * The reason given when a timer or a watch is stopped on purpose. Made once:
 * `abort()` without a reason builds a DOMException with a stack trace each
 * time, a measurable share of a lock cycle.
 */
export const STOPPED: Error = Object.freeze(new Error('stopped'));
