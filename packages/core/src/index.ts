export * from './backend.js';
export { MemoryBackend } from './backends/memory.js';
export * from './clock.js';
export * from './engine.js';
export * from './errors.js';
export * from './events.js';
export { Lease } from './lease.js';
export * from './names.js';
export * from './states.js';
