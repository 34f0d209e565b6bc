export * from './aws.js';
export * from './dynalite.js';
export * from './postgres.js';
export * from './process.js';
export * from './redis.js';
