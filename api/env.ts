import type { RequestIdVariables } from 'hono/request-id';
import type { Logger } from '../src/logger.js';

/**
 * The Hono environment of every route: the request id, the request's logger, and who the middleware
 * authenticated (a customer's subject, an admin's or a service's actor). Route files import this, never the app.
 */
export type AppEnv = {
  Variables: RequestIdVariables & {
    logger: Logger;
    customerSubject: string;
    adminActor: string;
    serviceActor: string;
  };
};
