export * from './backend.js';
export { MemoryBackend } from './backends/memory.js';
export * from './clock.js';
export * from './errors.js';
export * from './names.js';
export * from './states.js';
