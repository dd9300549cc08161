// The worker's workflowsPath: every workflow type the worker runs is exported here.
export { canaryWorkflow } from './canary-workflow.js';
export { customerWorkflow } from './customer/customer-workflow.js';
export { notificationDeliveryWorkflow } from './notification-delivery-workflow.js';
export { clusterObservationWorkflow } from './cluster-observation-workflow.js';
export { stripeSyncWorkflow } from './stripe-sync-workflow.js';
export { usageCollectionWorkflow } from './usage-collection-workflow.js';
