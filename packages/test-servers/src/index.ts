export * from './process.js';
export * from './redis.js';
export * from './dynalite.js';
export * from './aws.js';
