// The customer workflow's messages live beside it in workflows/customer/; activities, the API and
// tests import them from here.
export * from './customer/messages.js';
