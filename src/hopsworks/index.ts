export {
  createHopsworksClient,
  type CreateOAuthUserInput,
  type CreateProjectInput,
  type HopsworksClient,
  type HopsworksClientOptions,
  type ProjectRef,
  type UserRef,
} from './client.js';
export { HopsworksError, type HopsworksErrorCode } from './errors.js';
export type {
  HopsworksApiCalls,
  HopsworksProject,
  HopsworksProjectUsage,
  HopsworksUser,
  HopsworksUserStatus,
} from './types.js';
