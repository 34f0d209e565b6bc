export { S3Backend, type S3BackendJsonOptions, type S3BackendOptions, s3ClientConfig } from './backend.js';
export { classify, mapS3Error } from './errors.js';
export { S3_OBJECT_ACTIONS, type S3IamPolicyDocument, s3IamPolicy } from './iam.js';
export {
  type BackendFactory,
  BackendFactoryId,
  createS3BackendFromConfig,
  type S3FactoryConfig,
  s3BackendModule,
} from './module.js';

import { S3Backend, type S3BackendOptions } from './backend.js';

/** For child processes (the contract suite's spawn): options are plain JSON. */
export function createS3Backend(options: S3BackendOptions): S3Backend {
  return new S3Backend(options);
}
