import { findCustomerIdByReference } from '../src/db/admin-queries.js';
import { findCustomer, type CustomerRow } from '../src/db/customers.js';
import { billingAccountOfSubject, type SubjectAccount } from '../src/db/organisations.js';
import type { Queryable } from '../src/db/pool.js';
import { ApiError } from './errors.js';

/** The customer an admin route names; 404 `customer_not_found` when there is none. */
export async function requireCustomer(db: Queryable, id: string): Promise<CustomerRow> {
  const customer = await findCustomer(db, id);
  if (!customer) throw new ApiError(404, 'customer_not_found', `No customer ${id}`);
  return customer;
}

/** The customer id of an Auth0 subject or of a customer id (the seed's `userId`); 404 when neither. */
export async function customerByReference(db: Queryable, reference: string): Promise<string> {
  const id = await findCustomerIdByReference(db, reference);
  if (!id) throw new ApiError(404, 'customer_not_found', `No customer with Auth0 subject or id ${reference}`);
  return id;
}

/** What a customer JWT's subject answers for: its billing account and its role there (api/auth.ts). */
export type AccountLookup = (subject: string) => Promise<SubjectAccount | undefined>;

/**
 * The customer routes' one lookup of the JWT's user: the customer whose billing the request answers
 * for, which is the user's organisation when it is a member of one (with its role there), else the
 * user's own customer (role owner). Undefined for a subject nobody signed up with: the routes answer
 * it as they always have (404 `customer_not_found`, naming nobody).
 */
export function accountLookup(db: Queryable): AccountLookup {
  return (subject) => billingAccountOfSubject(db, subject);
}
