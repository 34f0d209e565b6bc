export { type ClaimRaceResult, type CreateRaceResult, claimRace, createRace } from './contenders.js';
export { engine } from './engine.js';
export { errors } from './errors.js';
export { line } from './line.js';
export { next } from './next.js';
export { primitives } from './primitives.js';
export { raceInProcesses } from './processes.js';
export type { WorkerJob } from './protocol.js';
export { races } from './races.js';
export { defineContractSuite, parts } from './suite.js';
export {
  type ContractPart,
  type ContractTarget,
  createContext,
  mapLimit,
  namespace,
  type SuiteContext,
} from './target.js';
export { versions } from './versions.js';
export { watch } from './watch.js';
