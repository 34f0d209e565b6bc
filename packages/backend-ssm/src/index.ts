/**
 * @runonce/backend-ssm: the SSM Parameter Store backend.
 *
 *   import { SsmBackend } from '@runonce/backend-ssm';
 *   const runonce = new RunOnce({ backend: new SsmBackend({ prefix: '/runonce' }), namespace: 'shop' });
 *
 * The CLI loads `ssmBackendModule` into its inversify container and gets the
 * factory bound under `Symbol.for('runonce.BackendFactory')` (module.ts).
 * docs/backends/ssm.md has the layout, the IAM policy and the call budget.
 */
import { SsmBackend, type SsmBackendJsonOptions } from './backend.js';

export {
  DEFAULT_SSM_PREFIX,
  SsmBackend,
  type SsmBackendJsonOptions,
  type SsmBackendOptions,
  ssmClientConfig,
} from './backend.js';
export { classify, mapSsmError } from './errors.js';
export { type IamPolicyDocument, iamPolicy, iamPolicyJson, SSM_ACTIONS } from './iam.js';
export { encodeCreated, encodeWritten, parseSlotName, SSM_LIMITS, slotName } from './layout.js';
export {
  type BackendFactory,
  BackendFactoryId,
  SsmBackendFactory,
  type SsmFactoryConfig,
  ssmBackendModule,
} from './module.js';

/** For child processes (the contract suite's spawn, the race tests): options are plain JSON. */
export function createSsmBackend(options: SsmBackendJsonOptions = {}): SsmBackend {
  return new SsmBackend(options);
}
